"""Writing the report: the HTML page and its JSON side by side, and its headline gauges for Prometheus.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> files = write_report({"report": "x"}, out, render=lambda j: "<!DOCTYPE html><p>x</p>")
>>> files.html.name, files.json.name, files.json.read_text().startswith("{")
('impact-report.html', 'impact-report.json', True)
>>> write_report({"report": "x"}, files.json)
Traceback (most recent call last):
...
forewarn.report.output.ReportOutputError: ... is a file, not a directory; give --out a directory (created if needed)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from forewarn.report.html import render_html
from schemas.errors import ForewarnError

__all__ = ["ReportFiles", "ReportOutputError", "write_report", "write_metrics"]


class ReportOutputError(ForewarnError):
    """The report's directory cannot be made or written; the message names the path and the fix."""


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    json: Path


def write_report(report: Mapping[str, Any], directory: Path, name: str = "impact-report",
                 render: Callable[[Mapping[str, Any]], str] = render_html) -> ReportFiles:
    """Write ``<name>.html`` and ``<name>.json`` into ``directory`` (created if needed)."""
    if directory.exists() and not directory.is_dir():
        raise ReportOutputError(f"{directory} is a file, not a directory; give --out a directory (created if needed)")
    files = ReportFiles(directory / f"{name}.html", directory / f"{name}.json")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        files.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        files.html.write_text(render(report), encoding="utf-8")
    except OSError as exc:
        raise ReportOutputError(f"{exc.filename or directory}: cannot write the report ({exc.strerror}); "
                                "give --out a directory you can write to") from None
    return files


def write_metrics(report: Mapping[str, Any], path: Path, triggers: Iterable[str]) -> Path:
    """Write the report's headline gauges to ``path`` in the Prometheus text format, atomically.

    The gauges are :class:`streams.outcomes.OutcomeGauges` on a registry of their own, set from the report
    JSON: success ratio and decisions measured by trigger and arm, inbound tickets per active account
    (mean of whole weeks, and the last whole week), time to resolution by origin. ``triggers`` are the
    config's trigger names (the only trigger labels). The file is written beside ``path`` under a
    temporary name and renamed over it, so node_exporter's textfile collector (which reads ``*.prom``)
    or any file scraper never sees half a file.

    >>> import tempfile, pathlib
    >>> from prometheus_client.parser import text_string_to_metric_families
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "forewarn.prom"
    >>> _ = write_metrics({"triggers": [], "tickets": {"inbound_per_active_account_per_week": 0.25, "weeks": []},
    ...                    "time_to_resolution": {}}, path, [])
    >>> [(m.name, m.samples[0].value) for m in text_string_to_metric_families(path.read_text())
    ...  if m.name == "forewarn_inbound_tickets_per_active_account"]
    [('forewarn_inbound_tickets_per_active_account', 0.25)]
    """
    from prometheus_client import CollectorRegistry, generate_latest

    from streams.outcomes import OutcomeGauges

    gauges = OutcomeGauges(CollectorRegistry(), triggers)
    # A fresh gauge without labels would export 0, which reads as a measured figure: NaN until the
    # report has the number.
    for gauge in (gauges.tickets_per_account, gauges.tickets_last_week):
        gauge.set(float("nan"))
    gauges.set_report(report)
    data = generate_latest(gauges.registry)
    if path.is_dir():
        raise ReportOutputError(f"{path} is a directory; give --metrics-out a file name, e.g. {path / 'forewarn.prom'}")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ReportOutputError(f"{path.parent}: cannot write the metrics file ({exc.strerror}); "
                                "give --metrics-out a file in a directory you can write to") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the collector usually runs as another user
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ReportOutputError(f"{path}: cannot write the metrics file ({exc.strerror})") from None
        raise
    return path
