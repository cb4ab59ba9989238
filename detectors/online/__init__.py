"""Online drop-off detection (River): per-account usage profiles, daily scores, learned thresholds.

Plain Python over the event stream, like the rest of ``detectors``: no Kafka,
Redis or Faust here. The pieces, one concept per module:

- :mod:`~detectors.online.tally` — one account's open UTC day (counts, duplicates);
- :mod:`~detectors.online.profile` — the exponentially weighted usage profile;
- :mod:`~detectors.online.base` — the scorer contract (scorers score, the policy decides);
- :mod:`~detectors.online.drop_z` (default), :mod:`~detectors.online.rate_drop`,
  :mod:`~detectors.online.half_space` — the scorers;
- :mod:`~detectors.online.threshold` — the learned (quantile) threshold;
- :mod:`~detectors.online.episodes` — the policy: warm-ups, one open episode per account;
- :mod:`~detectors.online.detector` — one partition's detector: every account scored daily;
- :mod:`~detectors.online.checkpoint` — signed checkpoints, cold restarts counted;
- :mod:`~detectors.online.usage_drop` — the ``usage_drop`` trigger's configuration;
- :mod:`~detectors.online.runner` — a config's ``usage_drop`` triggers over every partition
  (beside the rule engine, e.g. in ``forewarn backtest``).
"""

from detectors.online.checkpoint import (
    CheckpointCodec,
    ColdRestarts,
    restore_detector,
    save_detector,
)
from detectors.online.detector import DropOffDetector
from detectors.online.errors import CheckpointRefused, OnlineModelError
from detectors.online.runner import UsageDropRunner, partition_of
from detectors.online.usage_drop import SCORERS, UsageDrop

__all__ = [
    "CheckpointCodec",
    "CheckpointRefused",
    "ColdRestarts",
    "DropOffDetector",
    "OnlineModelError",
    "SCORERS",
    "UsageDrop",
    "UsageDropRunner",
    "partition_of",
    "restore_detector",
    "save_detector",
]
