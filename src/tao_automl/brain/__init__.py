"""Search algorithms ("brains"): objects that propose configs and learn from results."""

from tao_automl.brain.base import Brain
from tao_automl.brain.registry import ALGORITHMS, make_brain

__all__ = ["ALGORITHMS", "Brain", "make_brain"]
