"""The report tests reuse the measurement tests' seeded world with planted effects."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "interventions" / "measurement"))
