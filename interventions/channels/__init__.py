"""Delivery channels behind one contract (``base.py``) and a registry (``registry.py``)."""
