"""The alert rules and the Grafana dashboard query only metrics the processes really export.

A real ``forewarn worker``, a real ``forewarn dispatcher`` and a real ``forewarn outcomes``
run against the session's Kafka and Redis; a few usage events (one malformed, three that make
``payment_failing`` fire and the policy decide), one command and two decisions (one malformed,
one whose success window closed ten days ago, so the outcome worker counts it) go through them,
so the labelled metrics have samples. Each ``/metrics`` page must pass ``promtool check
metrics``; then every metric name in the rules file and the dashboard must be a sample
name of a live scrape (so ``x_bucket`` is accepted only where ``x`` is a histogram),
every label a matcher names must be one of that metric's labels, an ``=`` matcher's
value (or each word of an ``=~"a|b"`` alternation) must be a value it takes, and every label
a ``by``/``on``/… clause names must be a label of one of the expression's metrics (an
aggregation by a label no series has silently yields one series, a join on one matches all).

Metric names come from a small PromQL scanner: identifiers outside strings, label
matchers, range brackets and ``by/on/…(…)`` clauses that are not function names or
keywords. Its own tests below show it catches a misspelt name.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML
from sample_records import dispatcher_config, intervention_command

from schemas.decision import ARMS, SUPPRESSION_REASONS
from schemas.event import REASONS
from schemas.receipt import OUTCOMES

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "forewarn.rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "forewarn.json"

#: Series Prometheus makes itself for every target; never in a scrape.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_series_added"}
#: Labels Prometheus attaches from the scrape config, not the process.
TARGET_LABELS = {"job", "instance"}
#: Fixed value sets the code defines for a label: a matcher may name a value of these even
#: when the live run did not happen to produce it (no suppressed decision, say).
LABEL_DOMAINS: dict[tuple[str, str], tuple[str, ...]] = {
    ("forewarn_policy_decisions_total", "arm"): ARMS,
    ("forewarn_policy_decisions_total", "reason"): ("", *SUPPRESSION_REASONS),
    ("forewarn_deliveries_total", "outcome"): OUTCOMES,
    ("forewarn_events_invalid_total", "reason"): (*REASONS, "late"),
}

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}
_LABEL_CLAUSES = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|[0-9.]+(?:[eE][+-]?[0-9]+)?[a-zA-Z0-9.]*")
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GRAFANA_VAR = re.compile(r"\$(?:\{[^}]*\}|\w+)")


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a selector: ``metric{label op "value"}``."""

    metric: str
    label: str
    op: str
    value: str


@dataclass
class Selectors:
    """What a PromQL expression selects: metric names, their label matchers, and the labels its
    ``by/without/on/ignoring/group_left/group_right (…)`` clauses name."""

    names: set[str]
    matchers: list[Matcher]
    grouping: set[str] = field(default_factory=set)


def _tokens(expr: str) -> list[tuple[str, str]]:
    """(kind, text) tokens of a PromQL expression; Grafana variables outside strings are dropped."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(expr):
        c = expr[i]
        if c.isspace():
            i += 1
        elif c == "#":
            i = expr.find("\n", i) if "\n" in expr[i:] else len(expr)
        elif c in "\"'`":
            m = _STRING.match(expr, i)
            if m is None:
                raise ValueError(f"unterminated string at {i} in {expr!r}")
            out.append(("str", m.group()[1:-1]))
            i = m.end()
        elif c == "$":
            m = _GRAFANA_VAR.match(expr, i)
            if m is None:
                raise ValueError(f"stray $ at {i} in {expr!r}")
            i = m.end()
        elif _IDENT.match(expr, i) and not c.isdigit():
            m = _IDENT.match(expr, i)
            out.append(("ident", m.group()))
            i = m.end()
        elif c.isdigit() or (c == "." and i + 1 < len(expr) and expr[i + 1].isdigit()):
            m = _NUMBER.match(expr, i)
            out.append(("num", m.group()))
            i = m.end()
        elif c in "{}()[],":
            out.append(("punct", c))
            i += 1
        else:
            m = re.compile(r"=~|!~|!=|==|>=|<=|[-+*/%^=<>@:!~]").match(expr, i)
            if m is None:
                raise ValueError(f"unexpected {c!r} at {i} in {expr!r}")
            out.append(("op", m.group()))
            i = m.end()
    return out


def _skip_group(tokens: list[tuple[str, str]], i: int, open_: str, close: str) -> int:
    """Index after the bracket that closes the one at ``tokens[i]``."""
    depth = 0
    while i < len(tokens):
        if tokens[i] == ("punct", open_):
            depth += 1
        elif tokens[i] == ("punct", close):
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced {open_}{close}")


def selectors(expr: str) -> Selectors:
    """Metric names and label matchers of a PromQL expression.

    >>> s = selectors('histogram_quantile(0.99, sum by (le, channel) '
    ...               '(rate(forewarn_delivery_latency_seconds_bucket{channel=~"$channel"}[$__rate_interval])))')
    >>> sorted(s.names), [(m.metric, m.label, m.op) for m in s.matchers]
    (['forewarn_delivery_latency_seconds_bucket'], [('forewarn_delivery_latency_seconds_bucket', 'channel', '=~')])
    >>> s = selectors('a / on (job) group_left (x) b offset 5m and group by (p) (c) > bool 1e11')
    >>> sorted(s.names), sorted(s.grouping)
    (['a', 'b', 'c'], ['job', 'p', 'x'])
    """
    tokens = _tokens(expr)
    names: set[str] = set()
    matchers: list[Matcher] = []
    grouping: set[str] = set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        if (kind, text) == ("punct", "["):
            i = _skip_group(tokens, i, "[", "]")
        elif kind == "ident" and text in _LABEL_CLAUSES:
            if nxt == ("punct", "("):
                end = _skip_group(tokens, i + 1, "(", ")")
                grouping |= {t for k, t in tokens[i + 2:end - 1] if k == "ident"}
                i = end
            else:
                i += 1
        elif kind == "ident" and (nxt == ("punct", "(") or nxt[0] == "ident" and nxt[1] in ("by", "without")
                                  or text.lower() in _KEYWORDS):
            i += 1  # a function, an aggregator written `sum by (…) (…)`, or a keyword
        elif kind == "ident" or (kind, text) == ("punct", "{"):
            metric = text if kind == "ident" else ""
            if kind == "ident":
                i += 1
            own: list[tuple[str, str, str]] = []
            if i < len(tokens) and tokens[i] == ("punct", "{"):
                end = _skip_group(tokens, i, "{", "}")
                body = tokens[i + 1:end - 1]
                for j in range(0, len(body), 4):
                    (_, label), (_, op), (_, value) = body[j:j + 3]
                    if label == "__name__" and op == "=":
                        metric = value
                    else:
                        own.append((label, op, value))
                i = end
            if not metric:
                raise ValueError(f"a selector without a metric name in {expr!r}")
            names.add(metric)
            matchers += [Matcher(metric, *m) for m in own]
        else:
            i += 1
    return Selectors(names, matchers, grouping)


def rule_expressions() -> dict[str, str]:
    groups = YAML(typ="safe").load(RULES.read_text())["groups"]
    return {r.get("alert") or r["record"]: r["expr"] for g in groups for r in g["rules"]}


def dashboard_expressions() -> dict[str, str]:
    """Every query of the dashboard: panel targets and query variables (``label_values(expr, label)``)."""
    board = json.loads(DASHBOARD.read_text())
    out: dict[str, str] = {}

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out[f"panel {p['title']!r} {t['refId']}"] = t["expr"]
            walk(p.get("panels", []))

    walk(board["panels"])
    for var in board.get("templating", {}).get("list", []):
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
            out[f"variable {var['name']}"] = m.group(1) if m else query
    return out


Samples = dict[str, list[dict[str, str]]]


#: The sample names a family of each type is stored under (the parser strips ``_total`` from counters).
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
             "summary": ("", "_count", "_sum", "_created"), "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
             "info": ("_info",), "stateset": ("",), "gauge": ("",), "unknown": ("",)}


def samples_of(exposition: str) -> Samples:
    """Sample name -> the label sets it is exported with.

    A family declared without samples yet (a labelled counter nothing has counted)
    contributes the names its type implies, with no label sets.

    >>> sorted(samples_of("# TYPE d counter\\n# TYPE h histogram\\nh_count 1\\n").items())
    [('d_created', []), ('d_total', []), ('h_bucket', []), ('h_count', [{}]), ('h_created', []), ('h_sum', [])]
    """
    out: Samples = defaultdict(list)
    for family in text_string_to_metric_families(exposition):
        for suffix in _SUFFIXES.get(family.type, ("",)):
            out.setdefault(family.name + suffix, [])
        for s in family.samples:
            out[s.name].append(s.labels)
    return out


def problems(expressions: dict[str, str], live: Samples) -> list[str]:
    """Every metric name, matcher label and matcher value in ``expressions`` the scrapes do not back."""
    found: list[str] = []
    for where, expr in expressions.items():
        sel = selectors(expr)
        for name in sorted(sel.names - SYNTHETIC):
            if name not in live:
                found.append(f"{where}: metric {name} is not exported")
        for m in sel.matchers:
            if m.metric in SYNTHETIC or m.label in TARGET_LABELS:
                continue
            label_sets = live.get(m.metric)
            if not label_sets:
                continue  # missing (reported above), or declared with no samples yet: no labels to compare
            values = {ls[m.label] for ls in label_sets if m.label in ls}
            known = values | set(LABEL_DOMAINS.get((m.metric, m.label), ()))
            if not values:
                found.append(f"{where}: {m.metric} has no label {m.label}")
            elif m.op == "=" and m.value and m.value not in known:
                found.append(f"{where}: {m.metric}{{{m.label}={m.value!r}}} matches nothing ({sorted(known)})")
            elif m.op == "=~" and re.fullmatch(r"[\w|]+", m.value):
                for word in m.value.split("|"):
                    if word not in known:
                        found.append(f"{where}: {m.metric}{{{m.label}=~{m.value!r}}}: {word!r} matches nothing "
                                     f"({sorted(known)})")
        # A clause's label must be on some metric of the expression; unknowable while one of them has no
        # samples yet (declared only) or is made by Prometheus (up).
        label_sets = [live.get(name) for name in sel.names]
        if all(label_sets):
            labels = {label for sets in label_sets for ls in sets for label in ls} | TARGET_LABELS
            for label in sorted(sel.grouping - labels):
                found.append(f"{where}: no metric of the expression has the label {label!r} its by/on clause "
                             f"names ({sorted(sel.names)})")
    return found


# -- the scanner and the checks on their own -----------------------------------------------


LIVE_EXAMPLE = samples_of("""\
# TYPE forewarn_deliveries_total counter
forewarn_deliveries_total{channel="hook",outcome="delivered"} 1.0
forewarn_deliveries_total{channel="hook",outcome="failed"} 0.0
# TYPE forewarn_detect_chunk_seconds histogram
forewarn_detect_chunk_seconds_bucket{le="0.1"} 1.0
forewarn_detect_chunk_seconds_bucket{le="+Inf"} 1.0
forewarn_detect_chunk_seconds_count 1.0
forewarn_detect_chunk_seconds_sum 0.02
# TYPE forewarn_events_consumed_total counter
forewarn_events_consumed_total 5.0
# TYPE forewarn_batch_dropped_records_total counter
""")


@pytest.mark.parametrize("expr, problem", [
    ("rate(forewarn_events_consumd_total[5m])", "metric forewarn_events_consumd_total is not exported"),
    ("rate(forewarn_events_consumed[5m])", "metric forewarn_events_consumed is not exported"),
    ("histogram_quantile(0.9, rate(forewarn_events_consumed_bucket[5m]))",
     "metric forewarn_events_consumed_bucket is not exported"),
    ("forewarn_detect_chunk_seconds > 1", "metric forewarn_detect_chunk_seconds is not exported"),
    ('sum by (channel) (forewarn_deliveries_total{outcom="failed"})', "has no label outcom"),
    ('forewarn_deliveries_total{outcome="faild"}', "{outcome='faild'} matches nothing"),
    ('forewarn_deliveries_total{outcome=~"failed|expird"}', "'expird' matches nothing"),
    ('{__name__="forewarn_event_consumed_total"}', "metric forewarn_event_consumed_total is not exported"),
    ("rate(forewarn_batch_dropped_records_bucket[5m])", "metric forewarn_batch_dropped_records_bucket is not exported"),
    ("sum by (chanel) (rate(forewarn_deliveries_total[5m]))", "has the label 'chanel'"),
    ("forewarn_events_consumed_total / on (channel) forewarn_events_consumed_total", "has the label 'channel'"),
])
def test_a_misspelt_metric_label_or_value_is_reported(expr, problem):
    found = problems({"q": expr}, LIVE_EXAMPLE)
    assert len(found) == 1 and problem in found[0], found


@pytest.mark.parametrize("expr", [
    "sum(rate(forewarn_events_consumed_total[$__rate_interval])) by (instance)",
    'histogram_quantile(0.99, sum by (le) (rate(forewarn_detect_chunk_seconds_bucket{instance=~"$instance"}[5m])))',
    'sum(forewarn_deliveries_total{outcome=~"failed|delivered", channel="hook"}) / ignoring (outcome) '
    'group_left sum(forewarn_deliveries_total offset 15m)',
    'up{job=~"forewarn-.*"} == 0',
    "forewarn_detect_chunk_seconds_sum / forewarn_detect_chunk_seconds_count",
    "sum by (reason) (rate(forewarn_batch_dropped_records_total[5m]))",
])
def test_exported_names_and_clauses_pass(expr):
    assert problems({"q": expr}, LIVE_EXAMPLE) == []


def test_a_label_value_the_code_defines_passes_even_if_the_run_did_not_produce_it():
    live = samples_of('# TYPE forewarn_policy_decisions_total counter\n'
                      'forewarn_policy_decisions_total{trigger="t",arm="treated",reason=""} 1\n')
    assert problems({"q": 'forewarn_policy_decisions_total{arm="suppressed", reason="cooldown"}'}, live) == []
    assert problems({"q": 'forewarn_policy_decisions_total{arm="surpressed"}'}, live)
    assert problems({"q": 'forewarn_policy_decisions_total{reason="cooldwn"}'}, live)


def test_the_rules_and_the_dashboard_have_queries_to_check():
    rules, board = rule_expressions(), dashboard_expressions()
    assert len(rules) >= 7 and len(board) >= 20
    names = set().union(*(selectors(e).names for e in [*rules.values(), *board.values()]))
    assert {"forewarn_batch_commit_lag_records", "forewarn_deliveries_total",
            "forewarn_detect_chunk_seconds_bucket", "forewarn_outcome_watermark_seconds",
            "forewarn_outcome_success_ratio"} <= names


def test_dashboard_panels_have_unique_ids_a_datasource_and_do_not_overlap():
    board = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    assert board["uid"] and board["title"]
    cells: dict[tuple[int, int], str] = {}
    for p in board["panels"]:
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}" and p["targets"], p["title"]
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run deploy/setup.sh (Debian package 'prometheus')")
    return path


#: What Grafana puts in place of the variables the dashboard uses, for promtool's parser.
_GRAFANA_DEFAULTS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h", "$instance": ".*"}


def test_dashboard_queries_are_valid_promql(promtool, tmp_path):
    # promtool parses the expressions of recording rules: the dashboard's queries, variables
    # replaced as Grafana would, become one rule each.
    rules = []
    queries = dashboard_expressions()
    for n, expr in enumerate(queries.values()):
        for var, value in _GRAFANA_DEFAULTS.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
        rules.append({"record": f"dashboard:query_{n}", "expr": expr})
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    names = "\n".join(f"query_{n} is {where}" for n, where in enumerate(queries))
    assert result.returncode == 0, result.stdout + result.stderr + names
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


# -- the live scrape ---------------------------------------------------------------------------


def _event(i: int, account: str, kind: str, at_us: int) -> bytes:
    from schemas.timefmt import format_rfc3339

    return orjson.dumps({"event_id": f"ev-{uuid.uuid4().hex[:8]}-{i}", "account_id": account, "type": kind,
                         "occurred_at": format_rfc3339(at_us)})


def _old_decision() -> bytes:
    """A control decision of ten days ago: its 7-day success window is closed once the events move the
    outcome worker's watermark, so the success ratio and closed-window gauges get samples."""
    from schemas.timefmt import format_rfc3339

    return orjson.dumps({"firing_id": f"f-old-{uuid.uuid4().hex[:8]}", "account_id": "acct-metrics",
                         "trigger": "payment_failing", "intervention": "payment_outreach", "arm": "control",
                         "decided_at": format_rfc3339(int(time.time() * 1e6) - 10 * 24 * 3600 * 1_000_000),
                         "experiment": "exp-metrics"})


def _raw(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


@pytest.fixture(scope="module")
def scrapes(kafka_bootstrap, redis_url, tmp_path_factory) -> dict[str, str]:
    """The /metrics pages of a live worker, dispatcher and outcome worker that have done some work."""
    from forewarn.devinfra.procs import free_port
    from forewarn.devinfra.workers import WorkerProcess
    from interventions.channels.receiver import WebhookReceiver
    from streams.producer import RecordProducer
    from streams.settings import Settings, Topics
    from streams.topics import ensure_topics

    run = uuid.uuid4().hex[:8]
    topics = Topics.suffixed(f"m{run}")
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url, topics=topics,
                        app_id=f"forewarn-metrics-{run}")
    ensure_topics(settings)
    out = tmp_path_factory.mktemp("metric-names")
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "REDIS_URL": redis_url, "FOREWARN_APP_ID": settings.app_id,
           "FOREWARN_TOPICS": topics.model_dump_json()}
    secret = "whsec-metric-names-0123456789"
    port, outcomes_port = free_port(), free_port()
    dispatcher_env = {**env, "FOREWARN_METRICS_PORT": str(port),
                      "FOREWARN_DISPATCHER__GROUP_ID": f"dispatch-{settings.app_id}",
                      "FOREWARN_DISPATCHER__ALLOW_PRIVATE_NETWORKS": '["127.0.0.1/32"]',
                      "FOREWARN_DISPATCHER__CHANNEL_SECRETS": orjson.dumps({"csm_task": secret}).decode()}
    with WebhookReceiver(secret=secret.encode()) as hook:
        config = dispatcher_config(out / "dispatcher.json", hook.url())
        worker = WorkerProcess(["worker", "--loglevel", "warning"], env, out / "worker.log").start()
        dispatcher = WorkerProcess(["dispatcher", "--config", str(config), "--loglevel", "warning"],
                                   dispatcher_env, out / "dispatcher.log", web_port=port).start()
        outcomes = WorkerProcess(["outcomes", "--loglevel", "warning"],
                                 {**env, "FOREWARN_METRICS_PORT": str(outcomes_port)}, out / "outcomes.log",
                                 web_port=outcomes_port).start()
        try:
            hour_us = 3600 * 1_000_000
            start_us = int(time.time() * 1e6) - 3 * hour_us
            producer = RecordProducer(settings)
            # three failures fire payment_failing; an event two hours later moves the watermark past
            # the firing and past the policy's one-hour decision window, so the policy decides
            records = [(b"acct-metrics", _event(i, "acct-metrics", "payment.failed", start_us + i * 1_000_000))
                       for i in range(3)]
            records.append((b"acct-metrics", _event(3, "acct-metrics", "session.started", start_us + 2 * hour_us)))
            records.append((b"acct-metrics", b"{not json"))  # one for the DLQ
            producer.produce_many(topics.usage_events, records)
            producer.produce_many(topics.intervention_commands,
                                  [(b"acct-metrics", intervention_command("acct-metrics"))])
            producer.produce_many(topics.intervention_decisions,
                                  [(b"acct-metrics", _old_decision()), (b"acct-metrics", b"{not json")])
            producer.flush()
            # the commit lag appears once the worker has committed; the latency histogram once delivered
            worker.wait_for(lambda m: any(k.startswith("forewarn_batch_commit_lag_records") for k in m)
                            and any(k.startswith("forewarn_policy_decisions_total{") for k in m)
                            and m.get("forewarn_dlq_records_total{topic=\"%s\"}" % topics.usage_events_dlq, 0) >= 1,
                            90, "the events processed, decided and committed")
            dispatcher.wait_for(
                lambda m: m.get('forewarn_deliveries_total{channel="csm_task",outcome="delivered"}', 0) >= 1,
                90, "the command delivered")
            outcomes.wait_for(
                lambda m: m.get('forewarn_outcome_decisions{arm="control",trigger="payment_failing"}', 0) >= 1
                and any(k.startswith("forewarn_outcome_watermark_seconds{") for k in m)
                and m.get('forewarn_outcome_invalid_records_total{stream="decisions"}', 0) >= 1
                and m.get('forewarn_outcome_invalid_records_total{stream="events"}', 0) >= 1,
                90, "the old decision's window counted and the malformed records refused")
            return {"worker": _raw(worker.metrics_url), "dispatcher": _raw(dispatcher.metrics_url),
                    "outcomes": _raw(outcomes.metrics_url)}
        finally:
            worker.stop()
            dispatcher.stop()
            outcomes.stop()


@pytest.mark.integration
@pytest.mark.parametrize("process", ["worker", "dispatcher", "outcomes"])
def test_promtool_check_metrics_passes_on_a_live_scrape(promtool, scrapes, process):
    result = subprocess.run([promtool, "check", "metrics"], input=scrapes[process], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", "promtool found lint problems"
    assert "forewarn_" in scrapes[process]


@pytest.fixture(scope="module")
def live(scrapes) -> Samples:
    merged: Samples = defaultdict(list)
    for text in scrapes.values():
        for name, label_sets in samples_of(text).items():
            merged[name] += label_sets
    return merged


@pytest.mark.integration
def test_every_metric_the_rules_use_is_exported(live):
    assert problems(rule_expressions(), live) == []


@pytest.mark.integration
def test_every_metric_the_dashboard_uses_is_exported(live):
    assert problems(dashboard_expressions(), live) == []
