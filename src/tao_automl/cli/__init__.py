"""The ``tao-automl`` command: command table, bank commands, preflight, dry run, text report, run config."""

from tao_automl.cli.main import main

__all__ = ["main"]
