"""Pieces of ``forewarn bench pipeline``: the raw consumer ceiling, the naive per-event agent, latency probes."""
