"""Outcome measurement: did the interventions work, against the holdout, and what did they return?

Plain Python over the decision log and the usage events (no Kafka, no Redis):

- :mod:`.decisions` reads the decision log; :mod:`.receipts` what became of the commands;
- :mod:`.outcomes` judges every treated and control decision by its trigger's success metric,
  keeping its memory in an :mod:`.state` store;
- :mod:`.stats` holds the statistics (Wilson, Newcombe, Kaplan–Meier with Greenwood, quantiles);
- :mod:`.tickets`, :mod:`.retention` and :mod:`.roi` compute the report's other figures,
  with money inputs from the config's ``costs:`` section (:mod:`.costs`);
- :mod:`.report` assembles them into one :class:`~.report.ImpactReport` in one pass over the events.
"""
