"""The defaults README.md states for settings and calls are the ones the code uses: each number is read from the
README's own sentence, so a changed default (or sentence) fails here."""

from __future__ import annotations

import inspect

from conftest import readme_says
from tao_automl.settings import AutoMLSettings


def test_the_settings_defaults_the_readme_states() -> None:
    defaults = AutoMLSettings()
    fail_fast, = readme_says(r"`automl_fail_fast_after` \(default (\d+); 0 = off\)")
    interval, = readme_says(r"`status_interval_minutes` \(an `automl_settings` key, default (\d+);")
    budget, = readme_says(r"The default budget is (\d+) recs")
    seed, = readme_says(r"so is the brain \(`seed`, (\d+) by default\)")
    algorithm, = readme_says(r"`automl_settings\.algorithm`: `(\w+)` \(default:")
    readme_says(r"`automl_job_timeout_s` \(unset: none\)")
    assert defaults.automl_fail_fast_after == int(fail_fast)
    assert defaults.status_interval_minutes == float(interval)
    assert defaults.automl_max_recommendations == int(budget)
    assert defaults.seed == int(seed)
    assert defaults.algorithm == algorithm
    assert defaults.automl_job_timeout_s is None


def test_the_call_and_status_defaults_the_readme_states() -> None:
    from tao_automl import query_status
    from tao_automl.runner.loop import AutoMLRunner
    from tao_automl.status import DEFAULT_TOP

    hung, = readme_says(r"a call hung for (\d+) s is abandoned and retried")
    assert inspect.signature(AutoMLRunner).parameters["sdk_call_timeout_s"].default == float(hung)
    top, = readme_says(r"`top`, default (\d+), goes with `recs=\"top\"`")
    shown, = readme_says(r"the `top` \((\d+)\) best recs and the `top` newest recs without a rank")
    assert inspect.signature(query_status).parameters["top"].default is None  # None: the default view's size
    assert DEFAULT_TOP == int(top) == int(shown)
