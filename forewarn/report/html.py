"""The impact report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

A support lead opens it from a file, offline, or attaches it to an email; it
must read the same anywhere. It is drawn from the report JSON alone (which
it also carries, inert, for anyone who wants the raw numbers), so the page and
the JSON cannot disagree.

>>> page = render_html({"report": "forewarn impact report", "window": {"since": "2026-01-01T00:00:00Z",
...     "until": "2026-02-01T00:00:00Z", "days": 31.0}, "settings": {"minimum_per_arm": 30,
...     "retention_horizon_days": 90, "minimum_at_risk": 10, "confidence": 0.95},
...     "inputs": {"events": 10, "event_lines": 10, "malformed_lines": {}, "decisions": {}},
...     "triggers": [], "tickets": {"weeks": [], "inbound_per_active_account_per_week": None,
...     "per_decision_within_horizon": None}, "time_to_resolution": {}, "retention": None,
...     "costs": None, "roi": None})
>>> page.startswith("<!DOCTYPE html>"), "http" in page.replace("forewarn", "")
(True, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

import orjson

from forewarn.report import charts, fmt

__all__ = ["render_html"]

_CSS = """
:root { --treated: #0f766e; --control: #b45309; --ink: #1f2937; --muted: #6b7280; --rule: #e5e7eb; }
* { box-sizing: border-box; }
body { font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1200px; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--rule); }
p.sub, .note, .muted { color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 20px 0 8px; }
.card { border: 1px solid var(--rule); border-radius: 8px; padding: 12px 14px; }
.card .k { color: var(--muted); font-size: 13px; }
.card .v { font-size: 24px; font-weight: 600; margin: 2px 0; }
.card .d { font-size: 13px; color: var(--muted); }
.grid2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 24px; align-items: start; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 14px; }
th, td { text-align: right; padding: 5px 8px; border-bottom: 1px solid var(--rule); white-space: nowrap; }
th:first-child, td:first-child, td.l, th.l { text-align: left; }
th { font-weight: 600; color: var(--muted); font-size: 13px; white-space: normal; }
td.wrap { white-space: normal; }
td.reason { white-space: normal; color: var(--muted); text-align: left; min-width: 12em; }
.treated { color: var(--treated); } .control { color: var(--control); }
svg.chart { max-width: 100%; height: auto; font-size: 12px; }
svg .grid { stroke: var(--rule); } svg .axis { stroke: #9ca3af; }
svg .tick { fill: var(--muted); } svg .label { fill: var(--muted); font-size: 12px; }
svg .rowlabel { fill: var(--ink); font-size: 13px; } svg .note { fill: var(--muted); font-style: italic; }
svg .value { fill: var(--ink); font-size: 12px; }
svg .zero, svg .horizon { stroke: #6b7280; stroke-dasharray: 4 3; }
svg .whisker { stroke-width: 2; } svg .whisker.treated { stroke: var(--treated); }
svg .whisker.control { stroke: var(--control); } svg .whisker.uplift { stroke: var(--ink); }
svg .dot.treated { fill: var(--treated); } svg .dot.control { fill: var(--control); }
svg .dot.uplift { fill: var(--ink); } svg .dot.inbound { fill: #4338ca; }
svg .dot.hollow { fill: #fff; stroke: #4338ca; stroke-width: 1.5; }
svg .series { fill: none; stroke-width: 2; } svg .series.treated { stroke: var(--treated); }
svg .series.control { stroke: var(--control); } svg .series.inbound { stroke: #4338ca; }
svg .band.treated { fill: var(--treated); opacity: .15; } svg .band.control { fill: var(--control); opacity: .15; }
svg .bar.median.proactive { fill: var(--treated); } svg .bar.p90.proactive { fill: var(--treated); opacity: .3; }
svg .bar.median.inbound { fill: #4338ca; } svg .bar.p90.inbound { fill: #4338ca; opacity: .3; }
.legend span { margin-right: 14px; font-size: 13px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 5px; margin-right: 5px; }
.formula { background: #f9fafb; border: 1px solid var(--rule); border-radius: 6px; padding: 10px 14px; }
footer { margin-top: 40px; font-size: 13px; color: var(--muted); }
@media print { body { padding: 0; } .cards { grid-template-columns: repeat(4, 1fr); } }
"""


def _legend() -> str:
    return ('<div class="legend"><span><i style="background:var(--treated)"></i>treated</span>'
            '<span><i style="background:var(--control)"></i>control (holdout)</span></div>')


def _card(key: str, value: str, detail: str, ident: str) -> str:
    return (f'<div class="card" id="{ident}"><div class="k">{escape(key)}</div><div class="v">{escape(value)}</div>'
            f'<div class="d">{escape(detail)}</div></div>')


def _headline(j: Mapping[str, Any]) -> str:
    ttr = j["time_to_resolution"]
    pro, inb = ttr.get("proactive", {}), ttr.get("inbound", {})
    ret = (j.get("retention") or {}).get("at_horizon") or {}
    horizon = (j.get("retention") or {}).get("horizon_days", j["settings"]["retention_horizon_days"])
    roi = j.get("roi")
    cards = [
        _card("Inbound tickets per active account per week",
              fmt.number(j["tickets"]["inbound_per_active_account_per_week"]),
              "mean over the whole weeks of the window", "card-tickets"),
        _card("Median time to resolution",
              f"{fmt.hours(pro.get('median_hours'))} vs {fmt.hours(inb.get('median_hours'))}",
              "proactive vs inbound", "card-ttr"),
        _card(f"{horizon:g}-day retention, treated − control", fmt.pp(ret.get("difference")),
              fmt.pp_interval(ret.get("interval")) if ret.get("interval") else (ret.get("reason") or "no decisions"),
              "card-retention"),
        _card("ROI", fmt.ratio(roi["roi"]) if roi else fmt.DASH,
              (f"range {fmt.ratio(roi['roi_range'][0])} to {fmt.ratio(roi['roi_range'][1])}"
               if roi and roi.get("roi_range") else (roi or {}).get("reason") or "no costs: section in the config"),
              "card-roi"),
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _triggers(j: Mapping[str, Any]) -> str:
    triggers = j["triggers"]
    if not triggers:
        return '<p class="muted">No decisions in this window.</p>'
    rows = []
    delivery_cols = any(t.get("delivery") for t in triggers)
    for t in triggers:
        d = t["decisions"]
        cells = [
            f'<td class="l wrap"><b>{escape(t["trigger"])}</b><br><span class="muted">{escape(t["intervention"])}: '
            f'{escape(t["success_metric"])}</span></td>',
            f'<td>{fmt.count(d.get("treated"))} / {fmt.count(d.get("control"))} / {fmt.count(d.get("suppressed"))}</td>',
            f'<td>{fmt.count(t["open_windows"])}</td>',
            f'<td class="treated">{fmt.pct(t["treated"]["rate"])}<br><small>{fmt.pct_interval(t["treated"]["interval"])} '
            f'n={fmt.count(t["treated"]["decisions"])}</small></td>',
            f'<td class="control">{fmt.pct(t["control"]["rate"])}<br><small>{fmt.pct_interval(t["control"]["interval"])} '
            f'n={fmt.count(t["control"]["decisions"])}</small></td>',
        ]
        if t["uplift"] is None:
            cells.append(f'<td class="reason">{escape(t["reason"] or "")}</td>')
        else:
            cells.append(f'<td><b>{fmt.pp(t["uplift"])}</b><br><small>{fmt.pp_interval(t["uplift_interval"])}</small></td>')
        if delivery_cols:
            dl = t.get("delivery") or {}
            lines = [f"{status.replace('_', ' ')} {n:,}" for status, n in dl.items() if n]
            cells.append(f'<td>{"<br>".join(lines)}</td>')
        rows.append(f'<tr id="trigger-{escape(t["trigger"])}">{"".join(cells)}</tr>')
    head = ('<tr><th class="l">trigger · intervention: success metric</th><th>decisions<br>treated / control / suppressed</th>'
            '<th>windows<br>still open</th><th>treated<br>success rate</th><th>control<br>success rate</th>'
            '<th>uplift, 95 % CI</th>' + ('<th>treated commands</th>' if delivery_cols else '') + '</tr>')
    return (f'<table>{head}{"".join(rows)}</table>{_legend()}'
            f'<div class="grid2"><div>{charts.rates_chart(triggers)}</div><div>{charts.uplift_chart(triggers)}</div></div>')


def _tickets(j: Mapping[str, Any]) -> str:
    t = j["tickets"]
    weeks = t["weeks"]
    chart = charts.weekly_tickets_chart(weeks) if weeks else '<p class="muted">No weeks in the window.</p>'
    per = t.get("per_decision_within_horizon") or {}
    side = ""
    if per:
        side = (f'<table><tr><th class="l">inbound tickets within {per["horizon_days"]:g} days of a decision</th>'
                f'<th>decisions</th><th>per decision</th></tr>'
                f'<tr><td class="l treated">treated</td><td>{fmt.count(per["treated"]["decisions"])}</td>'
                f'<td>{fmt.number(per["treated"]["mean"])}</td></tr>'
                f'<tr><td class="l control">control</td><td>{fmt.count(per["control"]["decisions"])}</td>'
                f'<td>{fmt.number(per["control"]["mean"])}</td></tr>'
                f'<tr><td class="l">avoided per treated decision</td><td></td>'
                f'<td><b>{fmt.number(per["avoided_per_decision"])}</b><br><small>'
                f'{_interval(per["avoided_interval"])}</small></td></tr></table>')
    table = "".join(
        f'<tr><td class="l">{w["week_start"]}{" (partial)" if w["partial"] else ""}</td>'
        f'<td>{fmt.count(w["inbound_tickets"])}</td><td>{fmt.count(w["proactive_tickets"])}</td>'
        f'<td>{fmt.count(w["active_accounts"])}</td><td>{fmt.number(w["inbound_per_active_account"])}</td></tr>'
        for w in weeks)
    return (f'<div class="grid2"><div>{chart}</div><div>{side}</div></div>'
            f'<details><summary>Week by week</summary><table><tr><th class="l">week starting</th><th>inbound</th>'
            f'<th>proactive</th><th>active accounts</th><th>inbound per active account</th></tr>{table}</table></details>')


def _interval(ci: Any) -> str:
    return fmt.DASH if not ci else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _resolution(j: Mapping[str, Any]) -> str:
    ttr = j["time_to_resolution"]
    if not ttr:
        return '<p class="muted">No tickets in the window.</p>'
    rows = "".join(
        f'<tr><td class="l">{origin}</td><td>{fmt.count(r["tickets"])}</td><td>{fmt.hours(r["median_hours"])}</td>'
        f'<td>{fmt.hours(r["p90_hours"])}</td><td>{fmt.count(r["unresolved"])}</td></tr>'
        for origin, r in ttr.items())
    return (f'<div class="grid2"><div>{charts.resolution_chart(ttr)}</div><div><table><tr><th class="l">origin</th>'
            f'<th>resolved tickets</th><th>median</th><th>p90</th><th>still open</th></tr>{rows}</table></div></div>')


def _retention(j: Mapping[str, Any]) -> str:
    ret = j.get("retention")
    if not ret:
        return '<p class="muted">No decisions in this window.</p>'
    at = ret["at_horizon"]
    h = ret["horizon_days"]
    diff = (f'<b>{fmt.pp(at["difference"])}</b> {fmt.pp_interval(at["interval"])}' if at["difference"] is not None
            else f'<span class="muted">{escape(at["reason"] or "")}</span>')
    by_trigger = "".join(
        f'<tr><td class="l">{escape(t)}</td><td>{fmt.pct(r["treated"])}</td><td>{fmt.pct(r["control"])}</td>'
        f'<td>{fmt.pp(r["difference"])}</td>'
        + (f'<td>{fmt.pp_interval(r["interval"])}</td>' if r["interval"] else f'<td class="reason">{escape(r["reason"] or "")}</td>')
        + '</tr>'
        for t, r in ret.get("by_trigger", {}).items())
    table = (f'<table><tr><th class="l">arm</th><th>accounts</th><th>churned</th><th>retained at day {h:g}</th>'
             f'<th>still followed</th></tr>'
             f'<tr><td class="l treated">treated</td><td>{fmt.count(ret["treated"]["accounts"])}</td>'
             f'<td>{fmt.count(ret["treated"]["churned"])}</td><td>{fmt.pct(at["treated"])}</td>'
             f'<td>{fmt.count(at["treated_at_risk"])}</td></tr>'
             f'<tr><td class="l control">control</td><td>{fmt.count(ret["control"]["accounts"])}</td>'
             f'<td>{fmt.count(ret["control"]["churned"])}</td><td>{fmt.pct(at["control"])}</td>'
             f'<td>{fmt.count(at["control_at_risk"])}</td></tr></table>'
             f'<p>Difference at day {h:g}: {diff}</p>'
             f'<table><tr><th class="l">by trigger (first decision)</th><th>treated</th><th>control</th>'
             f'<th>difference</th><th>95 % CI</th></tr>{by_trigger}</table>')
    return f'<div class="grid2"><div>{charts.retention_chart(ret)}{_legend()}</div><div>{table}</div></div>'


def _roi(j: Mapping[str, Any]) -> str:
    costs, roi = j.get("costs"), j.get("roi")
    if not costs or not roi:
        return ('<p class="muted">No <code>costs:</code> section in the config, so no ROI. Add one '
                '(see <code>interventions/measurement/costs.py</code>) to see it.</p>')
    cur = costs["currency"]
    x = roi["inputs"]

    def m(v: float | None) -> str:
        return fmt.money(v, cur)

    contact = ", ".join(f"{k} {m(v)}" for k, v in costs["cost_per_contact"].items())
    revenue = (f'{escape(costs["monthly_revenue_from"]["property"])} of the account\'s latest '
               f'{escape(costs["monthly_revenue_from"]["event"])} (else {m(costs["monthly_revenue_per_account"])})'
               if costs["monthly_revenue_from"] else m(costs["monthly_revenue_per_account"]))
    inputs = [
        ("monthly revenue per account", revenue),
        ("months of revenue a retained account is worth", f'{costs["months_of_revenue_per_retained_account"]:g}'),
        ("cost per inbound ticket", m(costs["cost_per_inbound_ticket"])),
        ("ticket horizon", costs["ticket_horizon"]),
        ("cost per contact, by channel", contact),
        ("operating cost per month", m(costs["operating_cost_per_month"])),
    ]
    measured = [
        ("retention difference at the horizon", fmt.pp(x["retention_difference"])),
        ("treated accounts", fmt.count(x["treated_accounts"])),
        ("their monthly revenue, summed", m(x["treated_monthly_revenue"])),
        ("inbound tickets avoided per treated decision", fmt.number(x["tickets_avoided_per_decision"])),
        ("treated decisions (contacts)", fmt.count(x["treated_decisions"])),
        ("contact cost, summed", m(x["contact_cost"])),
        ("months in the window", fmt.number(x["window_months"], 2)),
    ]
    terms = [
        ("retained revenue", m(roi["retained_revenue"]),
         "retention difference × treated monthly revenue × months per retained account"),
        ("avoided ticket cost", m(roi["avoided_ticket_cost"]),
         "tickets avoided per decision × treated decisions × cost per inbound ticket"),
        ("operating cost", m(roi["operating_cost"]), "contact cost + months in the window × operating cost per month"),
    ]

    def rows(items: list[tuple[str, str]]) -> str:
        return "".join(f'<tr><td class="l wrap">{escape(k)}</td><td class="wrap">{escape(v)}</td></tr>' for k, v in items)

    result = (f'<b id="roi-value">{fmt.ratio(roi["roi"])}</b>'
              + (f' (range {fmt.ratio(roi["roi_range"][0])} to {fmt.ratio(roi["roi_range"][1])}, with both differences '
                 f'at the ends of their 95 % intervals)' if roi.get("roi_range") else "")
              if roi["roi"] is not None else f'<span class="muted">{escape(roi["reason"] or "")}</span>')
    return (f'<p class="formula">ROI = (retained revenue + avoided ticket cost) / operating cost = {result}</p>'
            f'<div class="grid2"><div><table><tr><th class="l">from the costs: section of the config</th><th></th></tr>'
            f'{rows(inputs)}</table><p class="muted">config: {escape(costs["source"] or "")}</p></div>'
            f'<div><table><tr><th class="l">measured in this window</th><th></th></tr>{rows(measured)}</table>'
            f'<table><tr><th class="l">term</th><th>amount</th><th class="l">how</th></tr>'
            + "".join(f'<tr><td class="l">{k}</td><td>{v}</td><td class="reason">{h}</td></tr>' for k, v, h in terms)
            + '</table></div></div>')


def _stamp(rfc3339: str) -> str:
    """A window bound to the second, for reading (the JSON keeps it exact)."""
    return rfc3339[:19].replace("T", " ") + " UTC"


def render_html(report: Mapping[str, Any]) -> str:
    """The whole page for a report JSON (``ImpactReport.to_json()``)."""
    j = report
    w, s, inp = j["window"], j["settings"], j["inputs"]
    decisions = inp.get("decisions", {})
    malformed = sum(inp.get("malformed_lines", {}).values())
    data = orjson.dumps(j).decode().replace("</", "<\\/")
    since, until = _stamp(w["since"]), _stamp(w["until"])
    note = f'\n<p class="sub">{escape(w["note"])}</p>' if w.get("note") else ""  # an --until later than the data
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Forewarn impact report, {escape(w["since"][:10])} to {escape(w["until"][:10])}</title>
<style>{_CSS}</style></head>
<body>
<h1>Forewarn impact report</h1>
<p class="sub">Event time {escape(since)} to {escape(until)} ({w["days"]:.1f} days) ·
{fmt.count(inp.get("events"))} events ({fmt.count(malformed)} malformed lines skipped) ·
decisions: {fmt.count(decisions.get("treated", 0))} treated, {fmt.count(decisions.get("control", 0))} control,
{fmt.count(decisions.get("suppressed", 0))} suppressed</p>{note}
{_headline(j)}
<h2>Did the interventions work? Success metric, treated vs control</h2>
<p class="muted">Each decision is judged by its trigger's success metric within its window. The uplift is shown only
when both arms have at least {s["minimum_per_arm"]} decisions with closed windows.</p>
{_triggers(j)}
<h2>Inbound ticket volume</h2>
{_tickets(j)}
<h2>Time to resolution: proactive outreach vs inbound tickets</h2>
{_resolution(j)}
<h2>{s["retention_horizon_days"]:g}-day retention by arm</h2>
<p class="muted">Accounts from their first decision; churn is <code>subscription.canceled</code>; censored at the end
of the window. Curves are Kaplan–Meier with Greenwood 95 % bands; a difference needs {s["minimum_at_risk"]} accounts
still followed at day {s["retention_horizon_days"]:g} in each arm.</p>
{_retention(j)}
<h2>Return on investment</h2>
{_roi(j)}
<footer>Intervals are 95 %: Wilson score for a rate, Newcombe hybrid score for the difference of two rates,
Greenwood with a normal approximation for survival, Welch normal approximation for the ticket difference.
Arms are compared as assigned (intention to treat): a treated decision whose message was not delivered still
counts as treated. Generated by <code>forewarn report</code>; the numbers are also in the JSON beside this page.</footer>
<script type="application/json" id="forewarn-report">{data}</script>
</body></html>
"""
