"""Faust agents: thin — parse, call the engine, emit."""
