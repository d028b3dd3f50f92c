"""Test helpers shipped with the package: the platform SDK conformance suite, the brain conformance suite
(:mod:`tao_automl.testing.brains`) and an instant in-process SDK (:class:`InstantSDK`)."""

from tao_automl.testing.conformance import CHECKS, Conformance, run_all
from tao_automl.testing.instant import InstantSDK

__all__ = ["CHECKS", "Conformance", "InstantSDK", "run_all"]
