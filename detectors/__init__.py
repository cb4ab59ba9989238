"""Forewarn engine: trigger config, rule primitives, event time, online models, state-store interface. Imports only schemas."""
