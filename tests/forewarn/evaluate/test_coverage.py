"""The embedded closed loop of the coverage study: decisions happen, truth is planted, intervals are judged."""

from __future__ import annotations

from forewarn.demo.closed_loop import demo_config
from forewarn.evaluate.coverage import CoverageStudy, run_seed
from streams.config import load_config
from streams.settings import Settings


def test_a_seed_yields_planted_uplifts_and_judged_intervals(tmp_path):
    config = load_config(demo_config(Settings().config_path, "http://127.0.0.1:9", "50%", tmp_path / "c.yaml"))
    result = run_seed(config, seed=2, accounts=500, days=45, lateness_us=300_000_000, minimum_per_arm=5)
    assert set(result.triggers) == {"onboarding_stalled", "payment_failing", "power_user_gone_quiet"}
    judged = [t for t in result.triggers if result.covered(t) is not None]
    assert judged, "no trigger had enough decisions to judge with a minimum of 5 per arm"
    for trigger in judged:
        truth, estimate, (low, high) = result.triggers[trigger]
        assert -1.0 <= truth <= 1.0 and low <= estimate <= high
    summary = CoverageStudy.summary([result])
    assert sum(s["judged"] for s in summary.values()) == len(judged)
    # The true ROI is known whether or not the report's is (45 days leave its 90-day retention open):
    # every treated decision's command reached the simulated customer and has a twin.
    true = result.roi_true
    assert true is not None and true.treated_decisions > 0 and true.undelivered == 0
    assert true.treated_accounts > 0 and true.roi is not None
    assert result.roi is None and result.roi_error is None


def test_the_truth_is_over_the_treated_decisions_whose_success_window_closed_in_the_report_window():
    # The report judges a decision only once its success window has closed by the window's end; a treatment
    # decided near the end of the run has its success and counterfactual read from a cut-short window
    # (here: the rescue never came), so it must not pull the truth the interval is compared with.
    from forewarn.evaluate.coverage import planted_uplift
    from schemas.timefmt import format_rfc3339

    day = 86_400_000_000
    since, until = 10 * day, 40 * day

    def t(trigger, decided_day, window_days, success, natural):
        return {"trigger": trigger, "decided_at": format_rfc3339(decided_day * day),
                "window_end": format_rfc3339((decided_day + window_days) * day),
                "success": success, "natural_success": natural}

    treatments = [
        t("a", 12, 7, True, False),   # judged: +1
        t("a", 20, 7, True, True),    # judged: 0
        t("a", 33, 7, True, False),   # window ends exactly at `until`: judged, +1
        t("a", 35, 7, False, False),  # window open at `until`: left out
        t("a", 38, 7, False, True),   # window open at `until`: left out
        t("a", 5, 7, False, True),    # decided before the window: left out
        t("b", 36, 14, True, False),  # b has no judged decision: no truth for it
    ]
    assert planted_uplift(treatments, since, until) == {"a": 2 / 3}
