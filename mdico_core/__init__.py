"""mdico_core: a reproducible companion to MDiCo (multi-modal co-learning for Earth observation)."""

__version__ = "0.1.0"
