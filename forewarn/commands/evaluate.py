"""``forewarn evaluate drop-off``: the online drop-off model against a simulation's ground truth.

Reads ``DIR/events.jsonl`` and ``DIR/truth/`` as ``forewarn simulate --out DIR``
wrote them, runs the ``usage_drop`` model (one per partition, as live) and the
rolling-mean baseline over the same events in one pass, and prints precision,
recall, lead time before churn and false alarms per 1,000 healthy account-days
beside the issue's targets, then what the model cost: µs per event and state
bytes per account.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from detectors.online.usage_drop import SCORERS, UsageDrop
from forewarn.commands.common import literal
from forewarn.evaluate.drop_off import DropOffEvaluation, VariantResult, evaluate_drop_off
from forewarn.evaluate.errors import EvaluationError
from forewarn.evaluate.rolling_mean import RollingMeanRule
from forewarn.evaluate.scoring import DropOffScore
from forewarn.evaluate.truth import read_truth
from schemas.timefmt import US_PER_MINUTE, format_rfc3339

__all__ = ["register", "usage_drop_from_config", "check_writable", "TARGETS"]

#: The issue's targets for the model on declining accounts.
TARGETS = {"precision": 0.8, "recall": 0.8, "median_lead_days": 14.0}


def usage_drop_from_config(path: Path, trigger: str | None) -> tuple[UsageDrop, int]:
    """The ``usage_drop`` trigger of a config file (the named one, or the only one) and its allowed lateness."""
    from streams.config import load_config

    cfg = load_config(path)
    found = {name: t.rule for name, t in cfg.triggers.items() if isinstance(t.rule, UsageDrop)}
    if trigger is not None:
        if trigger not in found:
            raise EvaluationError(f"{path}: no usage_drop trigger named {trigger!r}; "
                                  f"usage_drop triggers here: {', '.join(sorted(found)) or 'none'}")
        return found[trigger], cfg.engine.allowed_lateness_us
    if len(found) != 1:
        raise EvaluationError(f"{path}: {len(found)} usage_drop triggers ({', '.join(sorted(found)) or 'none'}); "
                              "name one with --trigger, or add one with kind: usage_drop")
    return next(iter(found.values())), cfg.engine.allowed_lateness_us


def check_writable(path: Path | None, option: str) -> None:
    """Refuse an output file that cannot be written, before the evaluation rather than after it."""
    if path is None:
        return
    if path.is_dir():
        raise EvaluationError(f"{option} {path}: is a directory; give a file name")
    if not path.parent.is_dir():
        raise EvaluationError(f"{option} {path}: no directory {path.parent}; create it or write elsewhere")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise EvaluationError(f"{option} {path}: not writable; write elsewhere")


def _write(path: Path, option: str, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise EvaluationError(f"{option} {path}: cannot write ({exc.strerror})") from None


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _lead(s: DropOffScore) -> str:
    q = s.lead_quantiles()
    spread = f" ({q[0]:.0f}–{q[1]:.0f})" if q else ""
    return f"{_num(s.median_lead_days)}{spread}"


def _results_table(ev: DropOffEvaluation) -> Table:
    table = Table(title="usage_drop firings vs the simulator's truth (declining accounts)")
    for col in ("detector", "firings", "precision", "strict precision", "recall", "recall (churned)",
                "median lead d (p25–p75)", "lead ≥ 14 d", "false alarms / 1k healthy acct-days",
                "firings on other drops"):
        table.add_column(col, justify="left" if col == "detector" else "right")
    rows = list(ev.variants) + ([ev.baseline] if ev.baseline is not None else [])
    for r in rows:
        s = r.score
        table.add_row(r.name, f"{s.firings:,}", _pct(s.precision), _pct(s.strict_precision), _pct(s.recall),
                      _pct(s.recall_churned), _lead(s), _pct(s.share_lead_at_least_14d),
                      _num(s.false_alarms_per_1000, 3), f"{s.other_drop_firings:,}")
    return table


def _targets_table(primary: VariantResult, baseline: VariantResult | None) -> Table:
    s = primary.score
    table = Table(title=f"targets ({primary.name})")
    for col in ("measure", "target", "achieved", "met", "baseline"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    b = baseline.score if baseline is not None else None
    checks = [
        ("precision", f"≥ {_pct(TARGETS['precision'])}", s.precision, _pct, b.precision if b else None),
        ("recall", f"≥ {_pct(TARGETS['recall'])}", s.recall, _pct, b.recall if b else None),
        ("median lead (days)", f"≥ {TARGETS['median_lead_days']:.0f}", s.median_lead_days, _num,
         b.median_lead_days if b else None),
    ]
    for name, target, value, fmt, base in checks:
        key = {"precision": "precision", "recall": "recall"}.get(name, "median_lead_days")
        met = value is not None and value >= TARGETS[key]
        table.add_row(name, target, fmt(value), "[green]yes[/]" if met else "[red]no[/]", fmt(base))
    fa, fb = s.false_alarms_per_1000, (b.false_alarms_per_1000 if b else None)
    table.add_row("false alarms / 1k healthy acct-days", "lower than baseline", _num(fa, 3),
                  "[green]yes[/]" if fa is not None and fb is not None and fa < fb else "[red]no[/]", _num(fb, 3))
    return table


def _cost_table(ev: DropOffEvaluation) -> Table:
    table = Table(title="cost (CPU time of this process, this machine)")
    for col in ("detector", "µs / event", "µs / account-day", "account-days scored", "state bytes / account "
                "mean · p95 · max", "model bytes / partition", "learned threshold per partition"):
        table.add_column(col, justify="left" if col == "detector" else "right")
    for r in ev.variants:
        c = r.cost_json(ev.events)
        table.add_row(r.name, _num(c["us_per_event"], 2), _num(c["us_per_account_day"], 2),
                      f"{c['account_days_scored']:,}",
                      f"{c['state_bytes_per_account_mean']} · {c['state_bytes_per_account_p95']} · "
                      f"{c['state_bytes_per_account_max']}",
                      " · ".join(f"{b:,}" for b in c["model_bytes_per_partition"]),
                      " · ".join(_num(t, 2) for t in c["learned_thresholds"]))
    return table


def register(app: typer.Typer, bench: typer.Typer) -> None:
    evaluate = typer.Typer(help="Evaluate detectors against a simulation's ground truth.", no_args_is_help=True)
    app.add_typer(evaluate, name="evaluate")
    from forewarn.commands.evaluate_report import add_report_command

    add_report_command(evaluate)

    @evaluate.command("drop-off")
    def drop_off(
        truth: Path = typer.Option(..., help="Simulation directory (`forewarn simulate --out DIR`) or its truth/."),
        events: Path = typer.Option(None, help="Events file; default DIR/events.jsonl."),
        config: Path = typer.Option(None, help="Config file whose usage_drop trigger to evaluate; "
                                               "default: the built-in usage_drop defaults."),
        trigger: str = typer.Option(None, help="Which usage_drop trigger of --config (when it has several)."),
        quantile: list[float] = typer.Option([], help="Evaluate the model at these quantiles instead "
                                                      "(repeatable: one row each, same run)."),
        also: list[str] = typer.Option([], help=f"Also evaluate these detectors ({', '.join(sorted(SCORERS))})."),
        partitions: int = typer.Option(4, help="Partitions (one model each), as the usage-events topic has."),
        baseline: bool = typer.Option(True, help="Run the rolling-mean baseline beside the model."),
        json_out: Path = typer.Option(None, "--json", help="Also write the results as JSON here."),
        firings_out: Path = typer.Option(None, "--firings", help="Write the first row's firings as JSON Lines here."),
    ) -> None:
        """Precision, recall, lead time and false-alarm rate of usage_drop firings, beside a baseline."""
        console = Console() if Console().is_terminal else Console(width=200)
        check_writable(json_out, "--json")
        check_writable(firings_out, "--firings")
        sim_dir = truth.parent if truth.name == "truth" else truth
        events_path = events or sim_dir / "events.jsonl"
        if config is not None:
            spec, lateness = usage_drop_from_config(config, trigger)
        else:
            spec, lateness = UsageDrop("usage_drop"), 5 * US_PER_MINUTE
        variants = [replace_quantile(spec, q) for q in quantile] or [spec]
        for name in also:
            if name not in SCORERS:
                raise EvaluationError(f"--also {name!r}: unknown detector; known: {', '.join(sorted(SCORERS))}")
            variants.append(spec.replace(detector=name))
        accounts = read_truth(truth)
        console.print(f"[dim]{len(accounts):,} accounts in the truth; reading {literal(events_path)} "
                      f"into {partitions} partition(s)…[/]")
        result = evaluate_drop_off(
            events_path, accounts, variants, partitions=partitions, allowed_lateness_us=lateness,
            baseline=RollingMeanRule() if baseline else None,
            progress=lambda n: console.print(f"[dim]  {n:,} lines[/]") if n % 1_000_000 == 0 else None)
        until = format_rfc3339(result.until_us) if result.until_us is not None else "—"
        console.print(f"{result.events:,} events ({result.malformed:,} malformed lines skipped), "
                      f"{result.accounts:,} accounts, scored up to {until}; parsing took "
                      f"{result.parse_seconds:.1f}s")
        console.print(_results_table(result))
        console.print(_targets_table(result.variants[0], result.baseline))
        console.print(_cost_table(result))
        if json_out is not None:
            body = {
                "events": result.events, "lines": result.lines, "malformed": result.malformed,
                "accounts": result.accounts, "partitions": result.partitions, "until": until,
                "targets": TARGETS,
                "variants": [{"config": r.spec.config() if r.spec else None, **r.score.to_json(),
                              "cost": r.cost_json(result.events)} for r in result.variants],
                "baseline": result.baseline.score.to_json() if result.baseline else None,
            }
            _write(json_out, "--json", orjson.dumps(body, option=orjson.OPT_INDENT_2))
        if firings_out is not None:
            _write(firings_out, "--firings",
                   b"".join(orjson.dumps(f.to_json()) + b"\n" for f in result.variants[0].firings))


def replace_quantile(spec: UsageDrop, q: float) -> UsageDrop:
    """The same trigger at another quantile."""
    if not 0.5 < q < 1.0:
        raise EvaluationError(f"--quantile {q}: use a number between 0.5 and 1 (exclusive), e.g. 0.999")
    return spec.replace(quantile=q)
