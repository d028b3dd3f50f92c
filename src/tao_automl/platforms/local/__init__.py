"""LocalSDK: jobs as subprocesses on this machine (built in)."""

from tao_automl.platforms.base import UnknownJobError
from tao_automl.platforms.local.sdk import LocalSDK

__all__ = ["LocalSDK", "UnknownJobError"]
