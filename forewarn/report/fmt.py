"""How the report writes its numbers, shared by the HTML page and the terminal so both read the same.

>>> pct(0.51724), pp(0.19268), pp_interval([0.139, 0.2439])
('51.7 %', '+19.3 pp', '[+13.9, +24.4] pp')
>>> money(9600.0, "USD"), ratio(7.8004), hours(19.976), count(12345)
('USD 9,600', '7.80×', '20.0 h', '12,345')
>>> pct(None), pp_interval(None)
('–', '–')
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DASH", "pct", "pp", "pp_interval", "pct_interval", "money", "ratio", "hours", "count", "number"]

#: What the report shows where there is no number.
DASH = "–"


def pct(x: float | None, digits: int = 1) -> str:
    return DASH if x is None else f"{100 * x:.{digits}f} %"


def pp(x: float | None, digits: int = 1) -> str:
    """A difference of two rates in percentage points, always signed."""
    return DASH if x is None else f"{100 * x:+.{digits}f} pp"


def pp_interval(ci: Sequence[float] | None, digits: int = 1) -> str:
    return DASH if ci is None else f"[{100 * ci[0]:+.{digits}f}, {100 * ci[1]:+.{digits}f}] pp"


def pct_interval(ci: Sequence[float] | None, digits: int = 1) -> str:
    return DASH if ci is None else f"[{100 * ci[0]:.{digits}f}, {100 * ci[1]:.{digits}f}] %"


def money(x: float | None, currency: str) -> str:
    if x is None:
        return DASH
    digits = 0 if abs(x) >= 100 else 2
    return f"{currency} {x:,.{digits}f}"


def ratio(x: float | None) -> str:
    return DASH if x is None else f"{x:.2f}×"


def hours(x: float | None) -> str:
    return DASH if x is None else f"{x:.1f} h"


def count(n: int | None) -> str:
    return DASH if n is None else f"{n:,}"


def number(x: float | None, digits: int = 3) -> str:
    return DASH if x is None else f"{x:,.{digits}f}"
