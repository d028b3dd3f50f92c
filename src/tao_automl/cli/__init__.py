"""The ``tao-automl`` command: command table (:mod:`.main`), bank commands, preflight, dry run, run config."""
