"""The runner hands a job's rendered spec file (path and text) to ``create_job`` of an SDK that declares
``takes_spec_file`` (Brev, Lepton: their jobs do not see the orchestrator's disk), and never to one that does not.

The platform is :class:`~tao_automl.testing.InstantSDK` (in process) recording the keyword arguments of each
``create_job``; nothing else is faked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tao_automl.runner.loop import AutoMLRunner
from tao_automl.testing import InstantSDK

SETTINGS = {"metric": "val_loss", "automl_max_recommendations": 2, "automl_max_concurrent": 1, "seed": 5,
            "algorithm": "random", "poll_interval_s": 0.01}


class Recording(InstantSDK):
    """InstantSDK that keeps each ``create_job``'s keyword arguments (a duck-typed SDK: no ``takes_spec_file``)."""

    def __init__(self) -> None:
        super().__init__()
        self.kwargs: list[dict[str, Any]] = []

    def create_job(self, image: Any, command: Any, gpu_count: int = 1, env_vars: Any = None, inputs: Any = None,
                   outputs: Any = None, **kwargs: Any) -> Any:
        self.kwargs.append(dict(kwargs))
        return super().create_job(image, command, gpu_count, env_vars, inputs, outputs, **kwargs)


class Carrying(Recording):
    takes_spec_file = True


def test_the_rendered_spec_reaches_create_job_only_of_an_sdk_that_takes_it(toy_skill: Path, tmp_path: Path) -> None:
    """A Brev or Lepton job read its spec at a path on the orchestrator's disk it cannot see; now the runner passes
    ``spec_file={"path", "text"}`` (the rec's rendered spec) to an SDK declaring ``takes_spec_file``."""
    carrying = Carrying()
    result = AutoMLRunner(carrying, toy_skill, log_progress=False).run(
        automl_settings=SETTINGS, workspace_path=tmp_path / "a", gpu_count=0)
    assert len(carrying.kwargs) == 2
    for rec, kwargs in zip(result["history"], carrying.kwargs, strict=True):
        path = Path(kwargs["spec_file"]["path"])
        assert path.is_file() and kwargs["spec_file"]["text"] == path.read_text()
        assert path.parent == Path(rec["results_dir"]).parent
    plain = Recording()
    AutoMLRunner(plain, toy_skill, log_progress=False).run(automl_settings=SETTINGS, workspace_path=tmp_path / "b",
                                                           gpu_count=0)
    assert len(plain.kwargs) == 2 and not any("spec_file" in k for k in plain.kwargs)
