"""Experiment trackers (W&B, MLflow) behind the runner's :class:`SweepObserver` interface."""

from tao_automl.tracking.base import ObserverSet, SweepObserver

__all__ = ["ObserverSet", "SweepObserver"]
