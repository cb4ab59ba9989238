"""``forewarn evaluate report``: the report's coverage study over seeds (registered by ``evaluate``)."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["add_report_command"]


def add_report_command(evaluate: typer.Typer) -> None:
    @evaluate.command("report")
    def report(
        seeds: int = typer.Option(20, help="How many seeds (1..N) to run the closed loop with."),
        accounts: int = typer.Option(2000, help="Simulated accounts per seed."),
        days: int = typer.Option(180, help="Simulated days per seed (as the demo: the report's 90-day retention, "
                                           "and so its ROI, needs decisions 90 days before the end)."),
        holdout: str = typer.Option("50%", help="Control share (as in the demo)."),
        min_sample: int = typer.Option(30, help="Minimum decisions per arm before an interval is given."),
    ) -> None:
        """How often the report's 95 % uplift interval covers the simulator's planted uplift (target ≥ 90 %),
        and the report's ROI against the simulator's true ROI (target within ±10 %)."""
        from forewarn.demo.closed_loop import demo_config
        from forewarn.evaluate.coverage import ROI_TOLERANCE, CoverageStudy
        from streams.config import apply_settings, load_config
        from streams.settings import Settings

        import tempfile

        settings = Settings()
        with tempfile.TemporaryDirectory(prefix="forewarn-coverage-") as tmp:
            path = demo_config(settings.config_path, "http://127.0.0.1:9", holdout, Path(tmp) / "config.yaml")
            config = apply_settings(load_config(path), settings)
        console = Console()
        study = CoverageStudy(config, accounts, days, config.engine.allowed_lateness_us, min_sample)
        rows = Table("seed", "trigger", "planted", "estimate", "95 % interval", "covered", title="Per seed")
        rois = Table("seed", "report ROI", "true ROI", "error", "90-day retention diff, report / true",
                     "tickets avoided per decision, report / true", "treated accounts / decisions",
                     title="ROI per seed (report vs simulator truth)")

        def on_seed(r) -> None:
            for t, (truth, est, interval) in sorted(r.triggers.items()):
                rows.add_row(str(r.seed), t, "–" if truth is None else f"{truth:+.3f}",
                             "–" if est is None else f"{est:+.3f}",
                             "not enough data" if interval is None else f"[{interval[0]:+.3f}, {interval[1]:+.3f}]",
                             {True: "yes", False: "NO", None: "–"}[r.covered(t)])
            rois.add_row(str(r.seed), *_roi_cells(r))
            err = r.roi_error
            console.print(f"seed {r.seed} done" + ("" if err is None else f" (ROI error {err:+.1%})"))

        with console.status("running the closed loop per seed"):
            results = study.run(list(range(1, seeds + 1)), on_seed)
        console.print(rows)
        summary = Table("trigger", "seeds judged", "covered", "coverage", "target ≥ 90 %", title="Coverage")
        for t, s in CoverageStudy.summary(results).items():
            cov = s["coverage"]
            summary.add_row(t, f"{s['judged']}/{s['seeds']}", str(s["covered"]),
                            "–" if math.isnan(cov) else f"{cov:.0%}",
                            "–" if math.isnan(cov) else ("met" if cov >= 0.9 else "not met"))
        console.print(summary)
        console.print(rois)
        s = CoverageStudy.roi_summary(results)
        roi = Table("seeds judged", f"within ±{ROI_TOLERANCE:.0%}", "median |error|", "largest |error|",
                    f"target: all within ±{ROI_TOLERANCE:.0%}", title="ROI error vs the simulator's truth")
        judged = s["judged"]
        roi.add_row(f"{judged}/{s['seeds']}", str(s["within"]),
                    "–" if not judged else f"{s['median_abs_error']:.1%}",
                    "–" if not judged else f"{s['max_abs_error']:.1%}",
                    "–" if not judged else ("met" if s["within"] == judged else "not met"))
        console.print(roi)


def _roi_cells(r) -> list[str]:
    """Report and true ROI of one seed, their relative error, and the two differences behind them."""
    def num(x: float | None, fmt: str, unit: str = "") -> str:
        return "–" if x is None else format(x, fmt) + unit

    rep = r.roi_report or {}
    inputs = rep.get("inputs") or {}
    true = r.roi_true
    if true is None:
        return [num(r.roi, ".2f", "×"), "–", "–", "–", "–", "–"]
    return [
        "not measurable" if r.roi is None else f"{r.roi:.2f}×",
        num(true.roi, ".2f", "×"),
        num(r.roi_error, "+.1%"),
        f"{num(inputs.get('retention_difference'), '+.3f')} / {num(true.retention_difference, '+.3f')}",
        f"{num(inputs.get('tickets_avoided_per_decision'), '+.3f')} / {num(true.avoided_per_decision, '+.3f')}",
        f"{true.treated_accounts} / {true.treated_decisions}",
    ]
