"""The ``usage_drop`` trigger: configuration of the online drop-off model, and building it.

In the config file it is a trigger like the rule triggers — a name, ``kind:
usage_drop``, the intervention that answers it — plus the model's knobs, all
optional::

    triggers:
      usage_dropping:
        kind: usage_drop
        detector: drop_z           # or rate_drop, half_space_trees
        quantile: 0.995            # alarm budget: ~0.5 % of armed account-days score above the threshold
        min_drop: 0.35             # and recent activity must be at least 35 % below the account's own
        warm_up_scores: 20000      # scores a partition sees before its threshold is trusted
        min_history: 28d           # history an account needs before it is scored
        intervention: we_miss_you

:meth:`UsageDrop.build` makes one :class:`~detectors.online.detector.DropOffDetector`
per partition; :meth:`UsageDrop.fingerprint` identifies the configuration in
checkpoints (a changed model configuration starts cold).

>>> from schemas.config_yaml import load_yaml_text
>>> node = load_yaml_text("{kind: usage_drop, quantile: 0.995, min_history: 21d}").as_map()
>>> rule = UsageDrop.from_config("usage_dropping", node, {})
>>> rule.describe()
'drop_z scores every account daily (silent ones too); fires above the learned 0.995-quantile when usage is 35 % below its own baseline, after 21d of history'
>>> det = rule.build(allowed_lateness_us=300_000_000)
>>> det.scorer.name, det.scorer.min_days, det.threshold.q, det.trigger
('drop_z', 21, 0.995, 'usage_dropping')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from detectors.online.base import DropScorer
from detectors.online.detector import DayHook, DropOffDetector
from detectors.online.drop_z import DropZScorer
from detectors.online.episodes import EpisodePolicy
from detectors.online.errors import OnlineModelError
from detectors.online.half_space import HalfSpaceTreesScorer
from detectors.online.profile import Horizons
from detectors.online.rate_drop import RateDropScorer
from detectors.online.checkpoint import fingerprint
from detectors.online.threshold import QuantileThreshold
from schemas.config_yaml import MapNode, Node, format_duration
from schemas.timefmt import US_PER_DAY

__all__ = ["UsageDrop", "SCORERS"]

#: The scorers a ``usage_drop`` trigger can use (``detector:``), by name.
SCORERS: Mapping[str, type[DropScorer]] = {
    cls.name: cls for cls in (DropZScorer, RateDropScorer, HalfSpaceTreesScorer)
}


def _float(node: Node, lo: float, hi: float, example: str) -> float:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise node.error(f"expected a number, got {type(value).__name__}; write e.g. {example}")
    if not lo < float(value) < hi:
        raise node.error(f"{value} is out of range; use a number between {lo} and {hi} (exclusive), e.g. {example}")
    return float(value)


def _days(node: Node) -> int:
    us = node.as_duration()
    if us % US_PER_DAY:
        raise node.error(f"{node.value!r} is not a whole number of days; the model counts UTC days, write e.g. 28d")
    return us // US_PER_DAY


class UsageDrop:
    """The configuration of a ``usage_drop`` trigger (constructor arguments stored as given)."""

    kind: ClassVar[str] = "usage_drop"
    keys: ClassVar[tuple[str, ...]] = ("detector", "quantile", "warm_up_scores", "min_history", "min_drop",
                                       "drop_ratio", "ticket_ratio", "recover_ratio", "short_horizon",
                                       "long_horizon", "seed")
    required: ClassVar[Mapping[str, str]] = {}

    def __init__(self, name: str, detector: str = "drop_z", quantile: float = 0.995,
                 warm_up_scores: int = 20_000, min_history_days: int = 28, min_drop: float = 0.35,
                 drop_ratio: float = 0.5,
                 ticket_ratio: float = 3.0, recover_ratio: float = 0.75, short_horizon_days: int = 7,
                 long_horizon_days: int = 56, seed: int = 42) -> None:
        if detector not in SCORERS:
            raise OnlineModelError(f"unknown detector {detector!r}; known: {', '.join(sorted(SCORERS))}")
        self.name = name
        self.detector = detector
        self.quantile = quantile
        self.warm_up_scores = warm_up_scores
        self.min_history_days = min_history_days
        self.min_drop = min_drop
        self.drop_ratio = drop_ratio
        self.ticket_ratio = ticket_ratio
        self.recover_ratio = recover_ratio
        self.short_horizon_days = short_horizon_days
        self.long_horizon_days = long_horizon_days
        self.seed = seed
        Horizons(short_horizon_days, long_horizon_days)  # refuse inconsistent half-lives now, not at start-up

    @classmethod
    def from_config(cls, name: str, node: MapNode, sets: Mapping[str, frozenset[Any]]) -> "UsageDrop":
        node.check_keys(["kind", "intervention", "description", *cls.keys])
        kw: dict[str, Any] = {}
        if (n := node.get("detector")) is not None:
            kw["detector"] = n.as_str(what="detector name", example="drop_z")
            if kw["detector"] not in SCORERS:
                raise n.error(f"unknown detector {kw['detector']!r}; known: {', '.join(sorted(SCORERS))}")
        if (n := node.get("quantile")) is not None:
            kw["quantile"] = _float(n, 0.5, 1.0, "0.995")
        if (n := node.get("warm_up_scores")) is not None:
            kw["warm_up_scores"] = n.as_int(minimum=1, example="20000")
        if (n := node.get("min_history")) is not None:
            kw["min_history_days"] = _days(n)
        if (n := node.get("min_drop")) is not None:
            kw["min_drop"] = _float(n, -0.001, 1.0, "0.35")
        if (n := node.get("drop_ratio")) is not None:
            kw["drop_ratio"] = _float(n, 0.0, 1.0, "0.5")
        if (n := node.get("ticket_ratio")) is not None:
            kw["ticket_ratio"] = _float(n, 0.999, 100.0, "3")
        if (n := node.get("recover_ratio")) is not None:
            kw["recover_ratio"] = _float(n, 0.0, 1.5, "0.75")
        for key in ("short_horizon", "long_horizon"):
            if (n := node.get(key)) is not None:
                kw[f"{key}_days"] = _days(n)
        if (n := node.get("seed")) is not None:
            kw["seed"] = n.as_int(example="42")
        short, long_ = kw.get("short_horizon_days", 7), kw.get("long_horizon_days", 56)
        if not short < long_:
            raise node.error(f"short_horizon ({short}d) must be shorter than long_horizon ({long_}d)", at_key=True)
        return cls(name, **kw)

    def config(self) -> dict[str, Any]:
        """The configuration as JSON-ready data (reports, fingerprint)."""
        return {"name": self.name, "detector": self.detector, "quantile": self.quantile,
                "warm_up_scores": self.warm_up_scores, "min_history_days": self.min_history_days,
                "min_drop": self.min_drop, "drop_ratio": self.drop_ratio, "ticket_ratio": self.ticket_ratio,
                "recover_ratio": self.recover_ratio, "short_horizon_days": self.short_horizon_days,
                "long_horizon_days": self.long_horizon_days, "seed": self.seed}

    def replace(self, **changes: Any) -> "UsageDrop":
        """The same trigger with some arguments changed (``quantile=0.995``, ``detector=...``)."""
        return UsageDrop(**{**self.config(), **changes})

    def scorer(self) -> DropScorer:
        if self.detector == "drop_z":
            return DropZScorer(short_half_life_days=self.short_horizon_days, min_days=self.min_history_days)
        if self.detector == "rate_drop":
            return RateDropScorer(drop_ratio=self.drop_ratio, ticket_ratio=self.ticket_ratio,
                                  min_days=self.min_history_days)
        return HalfSpaceTreesScorer(seed=self.seed, min_days=self.min_history_days)

    def build(self, *, allowed_lateness_us: int, on_day: DayHook | None = None) -> DropOffDetector:
        """A fresh (cold) detector for one partition."""
        return DropOffDetector(
            self.scorer(),
            QuantileThreshold(q=self.quantile, min_scores=self.warm_up_scores),
            EpisodePolicy(recover_ratio=self.recover_ratio, min_days=self.min_history_days, min_drop=self.min_drop),
            trigger=self.name,
            horizons=Horizons(self.short_horizon_days, self.long_horizon_days),
            allowed_lateness_us=allowed_lateness_us,
            on_day=on_day,
        )

    def fingerprint(self, allowed_lateness_us: int) -> str:
        """Identifies the model configuration in checkpoints: any change here means a cold start."""
        return fingerprint({**self.config(), "allowed_lateness_us": allowed_lateness_us, "model_format": 1})

    def describe(self) -> str:
        gate = f" when usage is {round(100 * self.min_drop)} % below its own baseline" if self.min_drop else ""
        return (f"{self.detector} scores every account daily (silent ones too); fires above the learned "
                f"{self.quantile}-quantile{gate}, after {format_duration(self.min_history_days * US_PER_DAY)} "
                "of history")

    def __repr__(self) -> str:
        return f"UsageDrop({self.name!r}: {self.describe()})"
