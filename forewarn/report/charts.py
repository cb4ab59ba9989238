"""The report's four charts, drawn from the report JSON (so the page shows exactly the JSON's numbers).

Colours: treated in teal, control in amber, everywhere; an interval is a
whisker (rates) or a shaded band (survival).

>>> svg = uplift_chart([{"trigger": "payment_failing", "uplift": 0.2, "uplift_interval": [0.1, 0.3],
...                      "reason": None}])
>>> svg.count("<line") > 3, "payment_failing" in svg
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from forewarn.report import fmt
from forewarn.report.svg import Plot, nice_ticks

__all__ = ["rates_chart", "uplift_chart", "weekly_tickets_chart", "resolution_chart", "retention_chart"]

_ROW = 44


def _pct_tick(v: float) -> str:
    return f"{100 * v:.0f}%"


def _pp_tick(v: float) -> str:
    return f"{100 * v:+.0f}"


def rates_chart(triggers: Sequence[Mapping[str, Any]], width: int = 560) -> str:
    """Success rate of each trigger's treated and control arms, with their Wilson intervals."""
    height = 56 + _ROW * max(1, len(triggers))
    p = Plot(width, height, (0.0, 1.0), (0.0, float(max(1, len(triggers)))), margin=(14, 20, 40, 170),
             title="Success rate by arm, with 95 % intervals")
    p.axes("success-metric rate", x_fmt=_pct_tick, y_ticks=[], x_ticks=nice_ticks(0, 1, 5))
    for i, t in enumerate(triggers):
        row = len(triggers) - i - 0.5
        p.text(p.left - 10, p.y(row) + 4, t["trigger"], "rowlabel", "end")
        for arm, offset in (("treated", 0.15), ("control", -0.15)):
            a = t[arm]
            if a["rate"] is None:
                continue
            lo, hi = a["interval"]
            p.line(lo, row + offset, hi, row + offset, f"whisker {arm}")
            p.circle(a["rate"], row + offset, 4.5, f"dot {arm}",
                     f"{t['trigger']} {arm}: {fmt.pct(a['rate'])} {fmt.pct_interval(a['interval'])}, "
                     f"{a['successes']}/{a['decisions']}")
    return p.render()


def uplift_chart(triggers: Sequence[Mapping[str, Any]], width: int = 560) -> str:
    """Treated − control per trigger with its Newcombe interval; a line at zero; missing ones say why."""
    spans = [v for t in triggers if t["uplift_interval"] for v in t["uplift_interval"]]
    lo = min([-0.05] + spans)
    hi = max([0.05] + spans)
    ticks = nice_ticks(lo, hi, 5)
    height = 56 + _ROW * max(1, len(triggers))
    p = Plot(width, height, (ticks[0], ticks[-1]), (0.0, float(max(1, len(triggers)))), margin=(14, 20, 40, 170),
             title="Uplift (treated − control) with 95 % Newcombe intervals")
    p.axes("uplift, percentage points", x_fmt=_pp_tick, y_ticks=[], x_ticks=ticks)
    p.line(0.0, 0.0, 0.0, float(max(1, len(triggers))), "zero")
    for i, t in enumerate(triggers):
        row = len(triggers) - i - 0.5
        p.text(p.left - 10, p.y(row) + 4, t["trigger"], "rowlabel", "end")
        if t["uplift"] is None:
            p.text(p.x(0.0) + 8, p.y(row) + 4, "not enough data", "note")
            continue
        a, b = t["uplift_interval"]
        p.line(a, row, b, row, "whisker uplift")
        p.line(a, row - 0.12, a, row + 0.12, "whisker uplift")
        p.line(b, row - 0.12, b, row + 0.12, "whisker uplift")
        p.circle(t["uplift"], row, 5, "dot uplift",
                 f"{t['trigger']}: {fmt.pp(t['uplift'])} {fmt.pp_interval(t['uplift_interval'])}")
    return p.render()


def weekly_tickets_chart(weeks: Sequence[Mapping[str, Any]], width: int = 560, height: int = 240) -> str:
    """Inbound tickets per active account, week by week; partial weeks are hollow."""
    points = [(i, w["inbound_per_active_account"]) for i, w in enumerate(weeks)
              if w["inbound_per_active_account"] is not None]
    top = max([v for _, v in points] + [0.01])
    ticks = nice_ticks(0.0, top * 1.1, 4)
    p = Plot(width, height, (-0.5, max(0.5, len(weeks) - 0.5)), (0.0, ticks[-1]),
             title="Inbound tickets per active account per week")
    step = max(1, len(weeks) // 8)
    labels = {i: w["week_start"][5:] for i, w in enumerate(weeks)}
    p.axes("week starting (month-day)", "tickets per active account", x_fmt=lambda v: labels.get(int(round(v)), ""),
           y_fmt=lambda v: f"{v:.2f}".rstrip("0").rstrip("."), x_ticks=list(range(0, len(weeks), step)), y_ticks=ticks)
    whole = [(i, v) for i, v in points if not weeks[i]["partial"]]
    if len(whole) > 1:
        p.polyline(whole, "series inbound")
    for i, v in points:
        w = weeks[i]
        p.circle(i, v, 4, "dot inbound" + (" hollow" if w["partial"] else ""),
                 f"week of {w['week_start']}: {w['inbound_tickets']} inbound tickets, "
                 f"{w['active_accounts']} active accounts{' (partial week)' if w['partial'] else ''}")
    return p.render()


def resolution_chart(resolution: Mapping[str, Mapping[str, Any]], width: int = 560) -> str:
    """Median and 90th percentile time to resolution, proactive against inbound."""
    origins = [o for o in ("proactive", "inbound") if o in resolution]
    top = max([r["p90_hours"] or 0.0 for r in resolution.values()] + [1.0])
    # Room to the right of the longest bar for its value label.
    ticks = nice_ticks(0.0, top * 1.6, 5)
    p = Plot(width, 60 + 56 * len(origins), (0.0, ticks[-1]), (0.0, float(len(origins))), margin=(14, 20, 40, 110),
             title="Time to resolution by origin: median (dark) and 90th percentile (light)")
    p.axes("hours from opened to resolved", y_ticks=[], x_ticks=ticks)
    for i, origin in enumerate(origins):
        r = resolution[origin]
        row = len(origins) - i - 0.5
        p.text(p.left - 10, p.y(row) + 4, origin, "rowlabel", "end")
        if r["median_hours"] is None:
            p.text(p.x(0) + 6, p.y(row) + 4, "no resolved tickets", "note")
            continue
        p.rect(0.0, row - 0.3, r["p90_hours"], row + 0.3, f"bar p90 {origin}", f"{origin} p90 {fmt.hours(r['p90_hours'])}")
        p.rect(0.0, row - 0.3, r["median_hours"], row + 0.3, f"bar median {origin}",
               f"{origin} median {fmt.hours(r['median_hours'])}")
        p.text(p.x(r["p90_hours"]) + 6, p.y(row) + 4,
               f"median {fmt.hours(r['median_hours'])} · p90 {fmt.hours(r['p90_hours'])}", "value")
    return p.render()


def retention_chart(retention: Mapping[str, Any], width: int = 560, height: int = 300) -> str:
    """Kaplan–Meier retention of treated and control accounts with Greenwood bands and the horizon marked."""
    horizon = retention["horizon_days"]
    curves = {arm: retention[arm]["points"] for arm in ("treated", "control")}
    end = max([pt["day"] for pts in curves.values() for pt in pts] + [horizon])
    lows = [pt["low"] for pts in curves.values() for pt in pts]
    floor = min([0.5] + lows)
    y_ticks = nice_ticks(max(0.0, floor - 0.05), 1.0, 5)
    p = Plot(width, height, (0.0, end), (y_ticks[0], 1.0), title="Retention by arm (Kaplan–Meier, 95 % bands)")
    p.axes("days since first decision", "accounts still subscribed", x_fmt=lambda v: f"{v:.0f}",
           y_fmt=_pct_tick, y_ticks=y_ticks)
    for arm, pts in curves.items():
        followed = [pt for pt in pts if pt["at_risk"] > 0 or pt["day"] == 0]
        if not followed:
            continue
        upper = [(pt["day"], pt["high"]) for pt in followed]
        lower = [(pt["day"], pt["low"]) for pt in reversed(followed)]
        p.polygon(_steps(upper) + _steps(lower[::-1])[::-1], f"band {arm}")
        p.polyline(_steps([(pt["day"], pt["survival"]) for pt in followed]), f"series {arm}")
    p.line(horizon, y_ticks[0], horizon, 1.0, "horizon")
    p.text(p.x(horizon) - 4, p.top + 12, f"day {horizon:g}", "note", "end")
    at = retention["at_horizon"]
    for arm in ("treated", "control"):
        if at[arm] is not None and curves[arm] and curves[arm][-1]["day"] >= horizon:
            p.circle(horizon, at[arm], 4.5, f"dot {arm}", f"{arm} at day {horizon:g}: {fmt.pct(at[arm])}")
    return p.render()


def _steps(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """A right-continuous step function through the points (the value holds until the next point)."""
    out: list[tuple[float, float]] = []
    for i, (x, y) in enumerate(points):
        if i:
            out.append((x, points[i - 1][1]))
        out.append((x, y))
    return out
