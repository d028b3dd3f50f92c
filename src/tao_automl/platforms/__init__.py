"""Compute platforms. Each SDK lives in its own package and is imported lazily."""

from tao_automl.platforms.base import (
    Job,
    JobStatus,
    PlatformBase,
    PlatformCheck,
    PlatformSDK,
    UnknownJobError,
    as_platform,
)

__all__ = ["Job", "JobStatus", "PlatformBase", "PlatformCheck", "PlatformSDK", "UnknownJobError", "as_platform"]
