"""LocalSDK: jobs as subprocesses on this machine (built in)."""

from tao_automl.platforms.local.sdk import LocalSDK, UnknownJobError

__all__ = ["LocalSDK", "UnknownJobError"]
