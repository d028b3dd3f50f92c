"""Test helpers shipped with the package: the platform SDK conformance suite and the brain conformance suite
(:mod:`tao_automl.testing.brains`)."""

from tao_automl.testing.conformance import CHECKS, Conformance, run_all

__all__ = ["CHECKS", "Conformance", "run_all"]
