"""A command a hint names for a run folder whose path holds a space is quoted, so it works when pasted."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from conftest import write_skill
from tao_automl.cli.main import main
from tao_automl.runner.loop import AutoMLRunner


def _commands(text: str) -> list[list[str]]:
    """The `tao-automl ...` commands quoted in backticks in ``text``, split as a shell splits them."""
    return [shlex.split(found) for found in re.findall(r"`(tao-automl [^`]*)`", text)]


def test_the_hint_for_a_rec_not_in_the_run_quotes_its_folder(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from store_helpers import killed_run_mid_job

    run_dir = tmp_path / "my runs" / "run_1"
    killed_run_mid_job(run_dir)
    assert main(["logs", str(run_dir), "99", "--json"]) == 2
    hint = json.loads(capsys.readouterr().out)["error"]["hint"]
    assert _commands(hint) == [["tao-automl", "status", str(run_dir)]], hint


def test_the_hint_after_submissions_failing_in_a_row_quotes_the_folder(tmp_path: Path) -> None:
    from tao_automl.errors import PlatformError
    from tao_automl.testing import InstantSDK

    class Refusing(InstantSDK):
        def create_job(self, *args: Any, **kwargs: Any) -> Any:
            raise PlatformError("quota exceeded")

    settings = {"metric": "val_loss", "automl_max_recommendations": 4, "automl_fail_fast_after": 0}
    with pytest.raises(PlatformError) as caught:
        AutoMLRunner(Refusing(), write_skill(tmp_path / "bank")).run(
            automl_settings=settings, workspace_path=tmp_path / "w s", gpu_count=0)
    run_dir = str(next((tmp_path / "w s").glob("run_*")))
    assert _commands(str(caught.value.to_json()["hint"])) == [
        ["tao-automl", "status", run_dir, "--recs", "all"], ["tao-automl", "resume", run_dir]]


def test_the_stop_reason_naming_a_result_left_to_collect_quotes_the_folder(tmp_path: Path) -> None:
    from test_runner_failures import ONE_SLOW_SUCCESS, _settings, _StatusLostAfterRefusedCancel

    skill = write_skill(tmp_path / "bank", trainer=ONE_SLOW_SUCCESS)
    result = AutoMLRunner(_StatusLostAfterRefusedCancel(jobs_dir=tmp_path / "jobs"), skill).run(
        automl_settings=_settings(automl_max_concurrent=2), workspace_path=tmp_path / "w s", gpu_count=0)
    assert "not collected" in result["stop_reason"]
    resumes = [c for c in _commands(result["stop_reason"]) if c[1] == "resume"]
    assert len(resumes) >= 2 and all(c == ["tao-automl", "resume", result["run_dir"]] for c in resumes), resumes
