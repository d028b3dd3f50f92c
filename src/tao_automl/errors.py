"""Exception types. User mistakes derive from :class:`UserInputError` (CLI exit code 2)."""

from __future__ import annotations


class TaoAutoMLError(Exception):
    """Base class of every error this package raises on purpose."""


class UserInputError(TaoAutoMLError, ValueError):
    """Bad input from the user: a setting, a path, a range. Shown as one line, never a traceback."""


class SettingsError(UserInputError):
    """An ``automl_settings`` key or value is invalid."""


class SkillError(UserInputError):
    """A skill directory is missing, incomplete or not runnable for AutoML."""


class SearchSpaceError(UserInputError):
    """A search-space definition (schema, hyperparameter list, custom range) is invalid."""


class WorkspaceError(UserInputError):
    """A run folder cannot be created, found or resumed."""


class WorkspaceLockedError(WorkspaceError):
    """Another orchestrator process holds the run folder's lock."""


class PlatformError(TaoAutoMLError):
    """A platform SDK failed in a way that ends the job it concerns."""
