"""``tao-automl run CONFIG --dry-run``: the first recs the sweep would launch, rendered, launching nothing.

Recs come from the configured brain exactly as the runner asks them before any result (batches of
``automl_max_concurrent``, rng ``default_rng([seed, recs created])``,
earlier recs pending). The first batch is what the run launches; later recs are marked ``exact: false``: the run
asks them as results arrive, so they can differ. Specs are rendered where the run would write them, with nothing
written: no workspace, temporary folder, state or job is created.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tao_automl.brain.registry import brain_options, make_brain
from tao_automl.brain.trials import Trial, TrialScheduler
from tao_automl.cli.run_config import RunConfig
from tao_automl.errors import UserInputError
from tao_automl.experiment.core import as_scheduler
from tao_automl.experiment.workspace import rec_folder
from tao_automl.settings import AutoMLSettings
from tao_automl.util.secrets import redact
from tao_automl.util.yaml_numbers import dump_spec_yaml

log = logging.getLogger(__name__)

#: How a run folder is named (see workspace.new_run_dir); shown in place of the real, future name.
RUN_DIR_PLACEHOLDER = "run_YYYYmmdd_HHMMSS_xxxxxx"


#: How a rec after the first batch is marked: the runner asks it once results arrive, so it may differ.
NOT_EXACT = ("asked here as if no result had come; the run asks it once results arrive, so its values can differ "
             "with the results and their timing")


@dataclass(frozen=True)
class DryRec:
    rec_id: int
    params: dict[str, Any]
    spec: dict[str, Any]
    spec_path: str
    command: str
    image: str | None
    platform_kwargs: dict[str, Any]
    budget: int | None = None  # epochs this rec trains: a multi-fidelity brain's, else its spec's (as the run records)
    exact: bool = True  # one of the first batch: launched exactly so; later recs depend on results and their timing
    #: The platform that would run it, and what it does with the image (its preflight check's words).
    platform: str = "local"
    image_note: str = ""

    def to_json(self) -> dict[str, Any]:
        """What would be launched, with credentials (by key name or known value) shown as ``<redacted>``."""
        shown: dict[str, Any] = redact(
            {"rec_id": self.rec_id, "params": self.params, "spec": self.spec, "spec_path": self.spec_path,
             "command": self.command, "image": self.image, "image_note": self.image_note,
             "platform": self.platform, "platform_kwargs": self.platform_kwargs, "budget": self.budget,
             "exact": self.exact})
        return shown

    def text(self) -> str:
        shown = self.to_json()
        spec = dump_spec_yaml(shown["spec"]).rstrip()  # as the rec's spec file will read
        params = "\n".join(f"  {k} = {v!r}" for k, v in shown["params"].items())
        kwargs = ", ".join(f"{k}={v!r}" for k, v in shown["platform_kwargs"].items())
        head = f"=== rec {self.rec_id}" + ("" if self.exact else f" ({NOT_EXACT})")
        budget = "" if self.budget is None else f"budget: {self.budget} epoch(s)\n"
        image = f"{self.image} ({self.image_note})" if self.image_note else str(self.image)
        return (f"{head}\nparams:\n{params}\n{budget}platform: {self.platform}\nimage: {image}\n"
                f"command: {shown['command']}\nplatform kwargs: {kwargs}\nspec ({self.spec_path}):\n{_indent(spec)}")


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _first_trials(scheduler: TrialScheduler, n: int, settings: AutoMLSettings) -> list[tuple[int, Trial]]:
    """The first ``n`` trials exactly as the runner asks them before any result: batches of
    ``automl_max_concurrent`` ids, ``default_rng([seed, recs created])``, earlier trials pending."""
    trials: list[tuple[int, Trial]] = []
    while len(trials) < n:
        created = len(trials)
        ids = list(range(created + 1, min(n, created + settings.automl_max_concurrent) + 1))
        proposed = scheduler.propose(ids, dict(trials), np.random.default_rng([settings.seed, created]))
        if not proposed:
            break  # the schedule waits for results before it proposes more
        trials += list(zip(ids, proposed, strict=False))
    return trials


@dataclass(frozen=True)
class DryRun:
    """The first recs of a run and its notes: each preflight warning (``preflight CHECK: DETAIL``) and each note of
    the run plan, as the dry run logs them and the run would (``notes`` in JSON, beside ``recs``)."""

    recs: list[DryRec]
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": True, "notes": list(self.notes), "recs": [r.to_json() for r in self.recs]}


def dry_run(config: RunConfig, n: int = 3, option: str = "--recs") -> list[DryRec]:
    """The first ``n`` recs (fewer when the budget is smaller); raises when preflight fails. ``option``: how the
    caller names ``n`` in an error (the CLI's ``--recs``, the tool's ``recs``)."""
    return dry_run_with_notes(config, n, option).recs


def dry_run_with_notes(config: RunConfig, n: int = 3, option: str = "--recs") -> DryRun:
    """:func:`dry_run`'s recs with the notes it logs (:class:`DryRun`)."""
    from tao_automl.render.job import format_command, render_job
    from tao_automl.runner.fidelity import spec_epochs
    from tao_automl.runner.plan import RunPlan
    from tao_automl.runner.preflight import run_preflight
    from tao_automl.runner.resources import DEFAULT_GPU_COUNT

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserInputError(f"{option}: {n!r} is not allowed; expected an integer >= 1 (how many recs to show)",
                             field=option, value=n, allowed="an integer >= 1", kind="usage")
    plan = RunPlan.build(config)
    report = run_preflight(config, plan=plan)
    if not report.ok:
        raise report.error()
    notes = [f"preflight {check.check}: {check.detail}" for check in report.warnings] + list(plan.notes)
    for note in notes:  # as the run logs them
        log.warning("%s", note)
    assert plan.skill is not None
    settings = plan.settings
    scheduler = as_scheduler(make_brain(settings.algorithm, plan.space, brain_options(settings.algorithm, settings)),
                             settings)
    run_dir = Path(config.workspace_path) / RUN_DIR_PLACEHOLDER
    kwargs = dict(config.platform_kwargs)
    gpu_count = kwargs.pop("gpu_count", DEFAULT_GPU_COUNT)
    image_check = next((c for c in report.checks if c.check == "image"), None)
    ignored = image_check.detail.partition("(")[2].rstrip(")") if image_check is not None and "(ignored" in \
        image_check.detail else ""
    trials = _first_trials(scheduler, min(n, settings.automl_max_recommendations), settings)
    out: list[DryRec] = []
    for rec_id, trial in trials:  # rendered where the run would write each spec, nothing written
        params = dict(trial.config)
        shown = rec_folder(run_dir, rec_id)
        request = render_job(plan.skill, params, plan.budget_context(trial.budget), rec_dir=shown,
                             results_dir=str(shown / "results"), write=False)
        spec_path = str(request.config_path)
        # the command the runner launches, each placeholder filled alike ({config_path}, {results_dir})
        command = format_command(plan.skill, {"config_path": spec_path, "results_dir": str(shown / "results")})
        call = {"gpu_count": gpu_count, "job_name": f"{RUN_DIR_PLACEHOLDER}-rec{rec_id:04d}",
                "inputs": request.inputs, "outputs": request.outputs, **kwargs}
        out.append(DryRec(rec_id, params, request.spec, spec_path, command, request.image, call,
                          trial.budget if trial.budget is not None else spec_epochs(plan.skill, request.spec),
                          rec_id <= settings.automl_max_concurrent, config.platform, ignored))
    return DryRun(out, notes)
