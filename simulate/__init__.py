"""Cluster simulation helpers (random cluster generator)."""
