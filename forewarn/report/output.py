"""Writing the report: the HTML page and its JSON side by side.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> files = write_report({"report": "x"}, out, render=lambda j: "<!DOCTYPE html><p>x</p>")
>>> files.html.name, files.json.name, files.json.read_text().startswith("{")
('impact-report.html', 'impact-report.json', True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from forewarn.report.html import render_html

__all__ = ["ReportFiles", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    json: Path


def write_report(report: Mapping[str, Any], directory: Path, name: str = "impact-report",
                 render: Callable[[Mapping[str, Any]], str] = render_html) -> ReportFiles:
    """Write ``<name>.html`` and ``<name>.json`` into ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(directory / f"{name}.html", directory / f"{name}.json")
    files.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    files.html.write_text(render(report), encoding="utf-8")
    return files
