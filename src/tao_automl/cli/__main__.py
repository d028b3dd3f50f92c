"""``python -m tao_automl.cli``."""

from tao_automl.cli.main import entry

entry()
