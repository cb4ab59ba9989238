"""The impact report's headline and per-trigger figures as rich tables, for the terminal.

>>> import io
>>> from rich.console import Console
>>> console = Console(record=True, width=120, file=io.StringIO())
>>> for table in report_tables({"triggers": [], "tickets": {"inbound_per_active_account_per_week": 0.1},
...         "time_to_resolution": {}, "retention": None, "roi": None, "costs": None,
...         "settings": {"retention_horizon_days": 90}}):
...     console.print(table)
>>> "inbound tickets per active account per week" in console.export_text()
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.table import Table

from forewarn.report import fmt

__all__ = ["report_tables", "headline_rows"]


def headline_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(figure, value, detail)`` for the headline numbers (also what ``forewarn demo`` prints)."""
    j = report
    ttr = j.get("time_to_resolution") or {}
    pro, inb = ttr.get("proactive") or {}, ttr.get("inbound") or {}
    ret = j.get("retention") or {}
    at = ret.get("at_horizon") or {}
    horizon = ret.get("horizon_days", j["settings"]["retention_horizon_days"])
    roi = j.get("roi")
    rows = [
        ("inbound tickets per active account per week", fmt.number(j["tickets"]["inbound_per_active_account_per_week"]),
         "mean over whole weeks"),
        ("median time to resolution, proactive", fmt.hours(pro.get("median_hours")),
         f"p90 {fmt.hours(pro.get('p90_hours'))}, {fmt.count(pro.get('tickets'))} tickets"),
        ("median time to resolution, inbound", fmt.hours(inb.get("median_hours")),
         f"p90 {fmt.hours(inb.get('p90_hours'))}, {fmt.count(inb.get('tickets'))} tickets"),
        (f"{horizon:g}-day retention, treated − control", fmt.pp(at.get("difference")),
         fmt.pp_interval(at["interval"]) if at.get("interval") else (at.get("reason") or "no decisions")),
    ]
    if roi is None:
        rows.append(("ROI", fmt.DASH, "no costs: section in the config"))
    elif roi["roi"] is None:
        rows.append(("ROI", fmt.DASH, roi["reason"]))
    else:
        band = roi.get("roi_range")
        rows.append(("ROI", fmt.ratio(roi["roi"]),
                     f"range {fmt.ratio(band[0])} to {fmt.ratio(band[1])}" if band else ""))
    return rows


def report_tables(report: Mapping[str, Any]) -> list[Table]:
    """The per-trigger table and the headline table."""
    triggers = Table(title="Success metric by trigger: treated vs control", box=box.SIMPLE_HEAD)
    triggers.add_column("trigger", no_wrap=True)
    for col in ("decisions\nT/C/S", "treated", "control", "uplift, pp\n95 % CI"):
        triggers.add_column(col, justify="right", no_wrap=True)
    for t in report["triggers"]:
        d = t["decisions"]
        if t["uplift"] is None:
            uplift = "[yellow]not enough data[/]"
        else:
            uplift = f"[bold]{fmt.pp(t['uplift'])}[/]\n{fmt.pp_interval(t['uplift_interval'])[:-3]}"
        triggers.add_row(
            t["trigger"],
            f"{d.get('treated', 0):,}/{d.get('control', 0):,}/{d.get('suppressed', 0):,}",
            f"{fmt.pct(t['treated']['rate'])}\nn={t['treated']['decisions']:,}",
            f"{fmt.pct(t['control']['rate'])}\nn={t['control']['decisions']:,}",
            uplift,
        )
    headline = Table(title="Headline", box=box.SIMPLE_HEAD)
    headline.add_column("figure")
    headline.add_column("value", justify="right", style="bold")
    headline.add_column("detail")
    for row in headline_rows(report):
        headline.add_row(*row)
    return [triggers, headline]
