"""``forewarn demo``: the closed loop on a real Kafka and Redis — simulator → detect → policy → dispatcher → report."""

from forewarn.demo.closed_loop import ClosedLoop, DemoOptions, DemoResult

__all__ = ["ClosedLoop", "DemoOptions", "DemoResult"]
