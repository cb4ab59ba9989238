"""Evaluation of detectors against the simulator's ground truth (``forewarn evaluate``)."""
