"""An in-process platform whose jobs end the moment they are created (for scale tests and benchmarks).

:class:`InstantSDK` satisfies :class:`~tao_automl.platforms.base.PlatformSDK`. ``create_job`` reads the
rec's spec file named in the command (``.json``, ``.yaml``/``.yml``), computes the metric with
``objective(spec)`` and finishes the job at once: no process, no sleep. The result is also written to
``<results_dir>/status.json`` (as a real trainer would), so a new ``InstantSDK`` in a resumed
orchestrator still answers for jobs an earlier process created: the job id is that results folder. The job's name
is kept there too, so a submission repeated under the same name and results folder (a resume after kill -9 of a
rec whose job was created but not yet recorded) returns the job that ran instead of running it again.
``fail_every=k`` makes every k-th job fail (exit code 1) to exercise failure paths.
"""

from __future__ import annotations

import json
import math
import os
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tao_automl.platforms.base import Job, JobStatus

Objective = Callable[[Mapping[str, Any]], "float | None"]
SPEC_SUFFIXES = (".json", ".yaml", ".yml")
#: The file in a job's results folder that holds the name it was submitted under.
JOB_NAME_FILE = "job_name"


def _numbers(node: Any) -> Iterable[float]:
    if isinstance(node, Mapping):
        for value in node.values():
            yield from _numbers(value)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield float(node)


def default_objective(spec: Mapping[str, Any]) -> float:
    """A smooth, deterministic value of the spec's numbers: ``sum(log1p(|x - 0.1|))`` (lower is better)."""
    return sum(math.log1p(abs(x - 0.1)) for x in _numbers(spec))


def spec_path(command: str | Sequence[str]) -> Path | None:
    """The first argument of ``command`` that names an existing spec file."""
    tokens = shlex.split(command) if isinstance(command, str) else [str(t) for t in command]
    for token in tokens:
        if token.endswith(SPEC_SUFFIXES):
            path = Path(token)
            if path.is_file():
                return path
    return None


def load_spec(path: Path) -> dict[str, Any]:
    text = path.read_text()
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return dict(data or {})


@dataclass
class _InstantJob:
    job: Job
    status: JobStatus
    status_line: str | None
    logs: str


class InstantSDK:
    """Jobs finish inside ``create_job`` with ``metric = objective(spec)``; state lives in memory."""

    def __init__(self, objective: Objective = default_objective, metric: str = "val_loss", *,
                 fail_every: int = 0) -> None:
        self.objective = objective
        self.metric = metric
        self.fail_every = fail_every
        self.created = 0
        self._jobs: dict[str, _InstantJob] = {}
        self._by_name: dict[str, str] = {}

    def create_job(self, image: str | None, command: str | Sequence[str], gpu_count: int = 1,
                   env_vars: Mapping[str, str] | None = None, inputs: Mapping[str, Any] | None = None,
                   outputs: Mapping[str, Any] | None = None, **kwargs: Any) -> Job:
        name = kwargs.get("job_name")
        if name is not None and name in self._by_name:
            return self._jobs[self._by_name[name]].job  # idempotent submission
        results = str((outputs or {}).get("results_dir") or "")
        if not results:
            raise ValueError("InstantSDK.create_job: outputs['results_dir'] is required")
        earlier = self._created_earlier(name, results)
        if earlier is not None:
            return earlier
        self.created += 1
        path = spec_path(command)
        value = self.objective(load_spec(path)) if path is not None else None
        failed = value is None or (self.fail_every > 0 and self.created % self.fail_every == 0)
        job = Job(id=results, results_dir=results, name=name)
        line = None if failed else json.dumps({"epoch": 1, "kpi": {self.metric: value}})
        state = _InstantJob(job, JobStatus.FAILURE if failed else JobStatus.SUCCESS, line,
                            "" if line is None else f"{self.metric}: {value}\n")
        folder = Path(results)
        folder.mkdir(parents=True, exist_ok=True)
        if name is not None:
            (folder / JOB_NAME_FILE).write_text(name)
        ended = folder / ("status.json" if line is not None else "failed")
        scratch = folder / f".{ended.name}.tmp"  # renamed whole: a kill mid-write never leaves an empty status.json
        scratch.write_text((line or "exit code 1") + "\n")
        os.replace(scratch, ended)
        self._jobs[job.id] = state
        if name is not None:
            self._by_name[name] = job.id
        return job

    def _created_earlier(self, name: str | None, results: str) -> Job | None:
        """The job an earlier process created under ``name`` with this results folder (it has ended), or None."""
        marker = Path(results) / JOB_NAME_FILE
        if name is None or not marker.is_file() or marker.read_text() != name:
            return None
        try:
            state = self._state(results)
        except KeyError:  # named, but killed before its result was written: run it
            return None
        job = Job(id=results, results_dir=results, name=name)
        self._jobs[results] = _InstantJob(job, state.status, state.status_line, state.logs)
        self._by_name[name] = results
        return job

    def _state(self, job_id: str) -> _InstantJob:
        state = self._jobs.get(job_id)
        if state is not None:
            return state
        folder = Path(job_id)  # a job an earlier process created: its results folder tells how it ended
        status_file = folder / "status.json"
        if status_file.is_file():
            line = status_file.read_text().strip()
            return _InstantJob(Job(id=job_id, results_dir=job_id), JobStatus.SUCCESS, line, "")
        if (folder / "failed").is_file():
            return _InstantJob(Job(id=job_id, results_dir=job_id), JobStatus.FAILURE, None, "")
        raise KeyError(f"unknown job id {job_id!r}")

    def get_job_status(self, job_id: str) -> JobStatus:
        return self._state(job_id).status

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
        return self._state(job_id).logs

    def get_failure_analysis(self, job_id: str) -> dict[str, Any] | None:
        state = self._state(job_id)
        if state.status is not JobStatus.FAILURE:
            return None
        return {"exit_code": 1, "message": "instant job failed (exit code 1)"}

    def find_job(self, job_name: str) -> Job | None:
        """The job created under ``job_name`` by this SDK object, or None."""
        job_id = self._by_name.get(job_name)
        return self._jobs[job_id].job if job_id is not None else None

    def cancel_job(self, job_id: str) -> bool:
        return False  # already finished

    def read_job_file(self, job_id: str, relative_path: str) -> str | None:
        state = self._state(job_id)
        return state.status_line if relative_path == "status.json" else None

    def wait_for_change(self, job_ids: Sequence[str], timeout: float) -> None:
        """Every job has already ended: return at once."""
        return None
