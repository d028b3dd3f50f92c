"""``tao-automl preflight``'s front end: load a config file and run :mod:`tao_automl.runner.preflight` on it.

The checks live in the runner layer (the runner runs them too); this module re-exports them under their old path.
"""

from __future__ import annotations

import json
from pathlib import Path

from tao_automl.cli.run_config import RunConfig, load_run_config
from tao_automl.errors import UserInputError
from tao_automl.runner.preflight import (
    Check,
    PreflightReport,
    dataset_check,
    platform_label,
    run_preflight,
    workspace_check,
)

__all__ = ["Check", "PreflightReport", "dataset_check", "platform_label", "preflight_file", "report_json",
           "run_preflight", "workspace_check"]


def preflight_file(path: str | Path) -> tuple[RunConfig | None, PreflightReport]:
    """Load ``path`` and run the checks; an invalid config is one failed ``config`` check carrying the config's own
    error (kind ``config``, the key at fault), as ``run`` and the ``preflight`` tool report it."""
    try:
        config = load_run_config(path)
    except UserInputError as exc:
        report = PreflightReport()
        report.add("config", False, str(exc), exc)
        return None, report
    return config, run_preflight(config)


def report_json(report: PreflightReport) -> str:
    return json.dumps(report.to_json(), indent=2)
