"""Interventions: catalogue, policy, channels, outcome measurement. Imports only schemas."""
