"""Receipts as the report reads them: what became of each treated decision's command.

The uplift is measured on every treated decision (intention to treat): a
command that failed to deliver still belongs to the treated arm, or a flaky
channel would quietly flatter the numbers. Receipts only say how many
treated decisions actually reached the customer, so a lead can tell a weak
intervention from a broken channel. Receipts are at least once and keyed by
``command_id``; a ``skipped_duplicate`` means an earlier delivery succeeded.

>>> book = ReceiptBook()
>>> for r in [{"command_id": "c1", "outcome": "failed"}, {"command_id": "c1", "outcome": "skipped_duplicate"},
...           {"command_id": "c2", "outcome": "expired"}]:
...     book.add(r)
>>> book.status("c1"), book.status("c2"), book.status("c3")
('delivered', 'expired', 'no_receipt')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from interventions.measurement.errors import HistoryError

__all__ = ["DELIVERY_STATUSES", "ReceiptBook", "read_receipts", "read_receipts_file"]

#: What the report says of a treated decision's command, best news first.
DELIVERY_STATUSES = ("delivered", "failed", "expired", "no_receipt")
_RANK = {"delivered": 0, "skipped_duplicate": 0, "failed": 1, "expired": 2}


class ReceiptBook:
    """The best-known outcome of each command id."""

    def __init__(self) -> None:
        self._status: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._status)

    def add(self, receipt: Mapping[str, Any]) -> None:
        command, outcome = receipt.get("command_id"), receipt.get("outcome")
        if not isinstance(command, str) or outcome not in _RANK:
            raise HistoryError(f"receipt {command!r}: needs a command_id and an outcome of "
                               f"{', '.join(sorted(_RANK))}, got {outcome!r}")
        status = "delivered" if outcome == "skipped_duplicate" else outcome
        known = self._status.get(command)
        if known is None or _RANK[status] < _RANK[known]:
            self._status[command] = status

    def status(self, command_id: str | None) -> str:
        if command_id is None:
            return "no_receipt"
        return self._status.get(command_id, "no_receipt")


def read_receipts(lines: Iterable[bytes], source: str, book: ReceiptBook | None = None) -> ReceiptBook:
    """Add JSON receipts (lines of a file, or record values) to ``book``; a bad one names ``source`` and its number."""
    book = book if book is not None else ReceiptBook()
    for number, line in enumerate(lines, 1):
        if not line or not line.strip():
            continue
        try:
            book.add(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise HistoryError(f"{source}:{number}: not JSON ({exc})") from None
        except HistoryError as exc:
            raise HistoryError(f"{source}:{number}: {exc}") from None
    return book


def read_receipts_file(path: Path, book: ReceiptBook | None = None) -> ReceiptBook:
    """Receipts from a JSON Lines file."""
    try:
        with Path(path).open("rb") as fh:
            return read_receipts(fh, str(path), book)
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read receipts ({exc.strerror}); give receipts as JSON Lines") from None

