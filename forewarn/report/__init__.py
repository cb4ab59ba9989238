"""``forewarn report``'s outputs: a self-contained HTML page, the JSON, and tables for the terminal.

The numbers come from :mod:`interventions.measurement.report`; :mod:`.build` reads the inputs
(files or topics) with the config, :mod:`.html` and :mod:`.charts` draw the page, :mod:`.terminal`
prints the tables and :mod:`.output` writes the files.
"""
