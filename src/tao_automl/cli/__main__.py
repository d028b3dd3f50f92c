"""``python -m tao_automl.cli``."""

import sys

from tao_automl.cli.main import main

sys.exit(main())
