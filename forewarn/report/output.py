"""Writing the report: the HTML page and its JSON side by side.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from forewarn.report.html import render_html
from schemas.errors import ForewarnError

__all__ = ["ReportFiles", "ReportOutputError", "write_report"]


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
