"""The closed-loop SaaS simulator: seeded customers, their usage events, and the ground truth.

Plain Python, no Kafka: ``Simulation`` steps simulated days and takes
intervention commands back between them; ``simulate_to_dir`` writes
``events.jsonl`` and ``truth/`` for ``forewarn simulate``; ``reference_firings``
is the independent statement of the seed triggers the truth is computed with.
"""

from forewarn.simulate.config import ANY_TRIGGER, DEFAULT_LIFTS, NoiseOptions, SimulationConfig
from forewarn.simulate.errors import CommandError, SimulationConfigError, SimulationError
from forewarn.simulate.feedback import Outreach, parse_command, read_commands
from forewarn.simulate.output import EventSink, FileSink, Pacer, run_simulation, simulate_to_dir
from forewarn.simulate.personas import PERSONAS, PLANS
from forewarn.simulate.reference import SEED_TRIGGERS, account_firings, reference_firings
from forewarn.simulate.simulation import DayBatch, FeedReport, Simulation, Treatment
from forewarn.simulate.truth import TRUTH_FILES, Truth

__all__ = [
    "ANY_TRIGGER",
    "DEFAULT_LIFTS",
    "NoiseOptions",
    "SimulationConfig",
    "CommandError",
    "SimulationConfigError",
    "SimulationError",
    "Outreach",
    "parse_command",
    "read_commands",
    "EventSink",
    "FileSink",
    "Pacer",
    "run_simulation",
    "simulate_to_dir",
    "PERSONAS",
    "PLANS",
    "SEED_TRIGGERS",
    "account_firings",
    "reference_firings",
    "DayBatch",
    "FeedReport",
    "Simulation",
    "Treatment",
    "TRUTH_FILES",
    "Truth",
]
