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
        days: int = typer.Option(120, help="Simulated days per seed."),
        holdout: str = typer.Option("50%", help="Control share (as in the demo)."),
        min_sample: int = typer.Option(30, help="Minimum decisions per arm before an interval is given."),
    ) -> None:
        """How often the report's 95 % uplift interval covers the simulator's planted uplift (target ≥ 90 %)."""
        from forewarn.demo.closed_loop import demo_config
        from forewarn.evaluate.coverage import CoverageStudy
        from streams.config import load_config
        from streams.settings import Settings

        import tempfile

        settings = Settings()
        with tempfile.TemporaryDirectory(prefix="forewarn-coverage-") as tmp:
            path = demo_config(settings.config_path, "http://127.0.0.1:9", holdout, Path(tmp) / "config.yaml")
            config = load_config(path)
        console = Console()
        study = CoverageStudy(config, accounts, days, int(settings.allowed_lateness_s * 1_000_000), min_sample)
        rows = Table("seed", "trigger", "planted", "estimate", "95 % interval", "covered", title="Per seed")

        def on_seed(r) -> None:
            for t, (truth, est, interval) in sorted(r.triggers.items()):
                rows.add_row(str(r.seed), t, "–" if truth is None else f"{truth:+.3f}",
                             "–" if est is None else f"{est:+.3f}",
                             "not enough data" if interval is None else f"[{interval[0]:+.3f}, {interval[1]:+.3f}]",
                             {True: "yes", False: "NO", None: "–"}[r.covered(t)])
            console.print(f"seed {r.seed} done")

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
        console.print("ROI error vs the simulator's truth: not measured — the truth records no counterfactual "
                      "inbound tickets, so the true ROI is not known to compare with.")
