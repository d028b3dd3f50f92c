"""Compute platforms. Each SDK lives in its own module and is imported lazily."""

from tao_automl.platforms.base import Job, JobStatus, PlatformSDK

__all__ = ["Job", "JobStatus", "PlatformSDK"]
