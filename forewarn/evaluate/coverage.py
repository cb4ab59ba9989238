"""Coverage study of the impact report: does its 95 % interval cover the uplift the simulator planted?

Each seed runs the closed loop embedded — the simulator, the detector engine on an
in-memory store, the policy on an in-memory store, every treated command
delivered back to the simulated customer — then builds the report exactly as
``forewarn report`` does and compares each trigger's uplift interval with the
truth: the mean, over treated decisions, of (success − success without the
intervention), which the simulator knows from its counterfactual replay. The
truth is taken over the treated decisions the report judges: made in the
report's window, their success window closed by its end. A decision whose
success window was still open when the simulation stopped has its success and
its counterfactual read from a cut-short window (a rescue due after the last
day never happened), which is no value of the metric; the report leaves it out
as undecided.
It also compares the report's ROI with the true ROI of the same run
(``forewarn.evaluate.roi_truth``): the simulator keeps every treated account's
untreated twin and follows both past the last day for the retention and ticket
horizons.
The live closed loop (``forewarn demo``) runs the same code on Kafka and Redis;
this one runs in seconds a seed, so twenty seeds fit in minutes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from detectors.config import ForewarnConfig
from detectors.engine import Engine
from detectors.memory_store import MemoryStore
from forewarn.evaluate.roi_truth import TrueRoi, true_roi
from forewarn.simulate import Simulation, SimulationConfig
from interventions.measurement.decisions import decision_from_json
from interventions.measurement.history import EventFileStats, parse_events
from interventions.policy import PolicyEngine
from interventions.store import InMemoryPolicyStore
from schemas.event import Event, parse_event
from schemas.timefmt import US_PER_DAY, parse_rfc3339

__all__ = ["SeedResult", "CoverageStudy", "run_seed", "planted_uplift", "ROI_TOLERANCE"]

#: The acceptance target: the report's ROI within ±10 % of the true ROI.
ROI_TOLERANCE = 0.10


@dataclass
class SeedResult:
    seed: int
    #: trigger -> (planted uplift, estimate, interval or None when 'not enough data')
    triggers: dict[str, tuple[float | None, float | None, tuple[float, float] | None]] = field(default_factory=dict)
    #: The report's ROI and its terms (``Roi.to_json()``), None without a costs section.
    roi_report: dict | None = None
    roi_true: TrueRoi | None = None

    @property
    def roi(self) -> float | None:
        return None if self.roi_report is None else self.roi_report.get("roi")

    @property
    def roi_error(self) -> float | None:
        """(report − truth) / |truth|; None when either is missing or the truth is 0."""
        true = None if self.roi_true is None else self.roi_true.roi
        if self.roi is None or true is None or true == 0:
            return None
        return (self.roi - true) / abs(true)

    def covered(self, trigger: str) -> bool | None:
        truth, _, interval = self.triggers.get(trigger, (None, None, None))
        if truth is None or interval is None:
            return None
        return interval[0] <= truth <= interval[1]


def planted_uplift(treatments: list[dict], since: int, until: int) -> dict[str, float]:
    """Per trigger, the mean of ``success − natural_success`` over the treatments (``Truth.treatments``)
    decided in ``[since, until)`` whose success window ended by ``until``: the treated decisions a report
    over that window judges (see the module docstring).

    >>> DAY = 86_400_000_000
    >>> closed = {"trigger": "t", "decided_at": "1970-01-02T00:00:00Z", "window_end": "1970-01-09T00:00:00Z",
    ...           "success": True, "natural_success": False}
    >>> cut_short = dict(closed, decided_at="1970-01-08T00:00:00Z", window_end="1970-01-15T00:00:00Z",
    ...                  success=False)
    >>> planted_uplift([closed, cut_short], since=0, until=10 * DAY)
    {'t': 1.0}
    """
    by_trigger: dict[str, list[float]] = defaultdict(list)
    for t in treatments:
        if not (since <= parse_rfc3339(t["decided_at"]) < until and parse_rfc3339(t["window_end"]) <= until):
            continue
        by_trigger[t["trigger"]].append(float(bool(t["success"])) - float(bool(t["natural_success"])))
    return {k: sum(v) / len(v) for k, v in by_trigger.items() if v}


def run_seed(config: ForewarnConfig, seed: int, accounts: int, days: int, lateness_us: int,
             minimum_per_arm: int = 30) -> SeedResult:
    """One embedded closed loop and its report, compared with the planted truth."""
    from forewarn.report.build import report_for_config

    sim = Simulation(SimulationConfig(accounts=accounts, days=days, seed=seed), keep_twins=True)
    engine = Engine.from_config(config, allowed_lateness_us=lateness_us)
    store = MemoryStore()
    policy = PolicyEngine.from_config(config, InMemoryPolicyStore())
    raws: list[bytes] = []
    decisions = []
    while not sim.done:
        batch = sim.step()
        values = [v for _, v in batch.records]
        raws += values
        day = [e for e in map(parse_event, values) if isinstance(e, Event)]
        fired = engine.process_chunk(0, day, store).firings
        closed = engine.advance_to(0, batch.end_us - lateness_us - 1, store)
        result = policy.process(0, fired + closed.firings, advance_to=closed.watermark)
        decisions += result.decisions
        if result.commands:
            sim.feed([c.model_dump(mode="json") for c in result.commands])
    truth = sim.truth()
    stats = EventFileStats()
    records = [decision_from_json(d.model_dump(mode="json")) for d in decisions]
    built = report_for_config(config, records, parse_events(raws, stats), stats, minimum_per_arm=minimum_per_arm)
    report = built.to_json()
    planted = planted_uplift(truth.treatments, built.since, built.until)
    out = SeedResult(seed)
    for row in report["triggers"]:
        interval = row.get("uplift_interval")
        out.triggers[row["trigger"]] = (planted.get(row["trigger"]), row.get("uplift"),
                                        tuple(interval) if interval else None)
    costs = config.extra.get("costs")
    if costs is not None:
        horizon_days = built.retention.horizon_days
        followed = sim.follow(max(int(horizon_days * US_PER_DAY), costs.ticket_horizon_us))
        out.roi_report = report["roi"]
        out.roi_true = true_roi(records, followed, {a.account_id: float(a.plan.mrr_usd) for a in sim.accounts},
                                costs, {name: spec.channel for name, spec in config.interventions.items()},
                                built.since, built.until, horizon_days)
    return out


class CoverageStudy:
    """Runs ``run_seed`` over seeds and summarises how often the interval covered the truth."""

    def __init__(self, config: ForewarnConfig, accounts: int, days: int, lateness_us: int,
                 minimum_per_arm: int = 30):
        self.config = config
        self.accounts = accounts
        self.days = days
        self.lateness_us = lateness_us
        self.minimum_per_arm = minimum_per_arm

    def run(self, seeds: list[int], on_seed: Callable[[SeedResult], None] | None = None) -> list[SeedResult]:
        results = []
        for seed in seeds:
            r = run_seed(self.config, seed, self.accounts, self.days, self.lateness_us, self.minimum_per_arm)
            results.append(r)
            if on_seed:
                on_seed(r)
        return results

    @staticmethod
    def summary(results: list[SeedResult]) -> dict[str, dict[str, float | int]]:
        """Per trigger: seeds with a number, seeds covered, the coverage share."""
        out: dict[str, dict[str, float | int]] = {}
        triggers = sorted({t for r in results for t in r.triggers})
        for t in triggers:
            judged = [r.covered(t) for r in results if r.covered(t) is not None]
            out[t] = {"seeds": len(results), "judged": len(judged), "covered": sum(judged),
                      "coverage": (sum(judged) / len(judged)) if judged else float("nan")}
        return out

    @staticmethod
    def roi_summary(results: list[SeedResult], tolerance: float = ROI_TOLERANCE) -> dict[str, float | int]:
        """Seeds with both ROIs, how many within ``tolerance``, and the median and largest absolute error."""
        errors = sorted(abs(e) for e in (r.roi_error for r in results) if e is not None)
        median = float("nan")
        if errors:
            mid = len(errors) // 2
            median = errors[mid] if len(errors) % 2 else (errors[mid - 1] + errors[mid]) / 2
        return {"seeds": len(results), "judged": len(errors), "within": sum(1 for e in errors if e <= tolerance),
                "median_abs_error": median, "max_abs_error": errors[-1] if errors else float("nan")}
