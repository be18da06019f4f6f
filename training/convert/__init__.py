"""Converters from real ego-exo datasets (Ego-Exo4D, H2O) into clip format v1 (see docs/datasets.md)."""
