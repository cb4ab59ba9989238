"""Local infrastructure: a real Kafka 4 broker (KRaft, from jars) and a real Redis."""

from forewarn.devinfra.errors import DevInfraError
from forewarn.devinfra.stack import DevStack, Endpoints, default_state_dir

__all__ = ["DevInfraError", "DevStack", "Endpoints", "default_state_dir"]
