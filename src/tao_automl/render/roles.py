"""Spec values that ``spec_params.<action>`` roles ask for: results folder, resume and pretrained checkpoints.

Roles handled: ``output_dir`` (the job's results folder), ``resume_model`` (the checkpoint a job resumes from),
``ptm_if_no_resume_model`` / ``parent_model`` / ``parent_model_or_ptm`` / ``ptm`` (the base checkpoint, unless
resuming; with several such keys a whole-model key wins over ``*backbone*`` keys), ``key`` (the encryption key,
when one is given), ``create_*`` output files (a file under the results folder). Anything else (literal values,
download rules, unknown roles) is left to the spec's own value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PTM_ROLES = ("ptm_if_no_resume_model", "parent_model", "parent_model_or_ptm", "ptm")
OUTPUT_FILES = {"create_onnx_file": "model.onnx", "create_onnx_file_2d": "model_2d.onnx",
                "create_engine_file": "model.engine", "create_cal_cache": "cal.bin"}


def checkpoint_keys(roles: Mapping[str, str]) -> list[str]:
    """The keys a base checkpoint fills: pretrained-model roles, whole-model keys before backbone-only ones."""
    keys = [key for key, role in roles.items() if role in PTM_ROLES]
    whole = [key for key in keys if "backbone" not in key.lower()]
    return whole or keys


def role_values(spec_params: Mapping[str, Any], outputs: Mapping[str, Any], *, results_dir: str,
                resume_path: str | None, base_checkpoint: str, encryption_key: str | None) -> dict[str, Any]:
    """Spec key -> value for every role this job can fill; the results folder always lands somewhere."""
    roles = {str(k): v for k, v in spec_params.items() if isinstance(v, str)}
    values: dict[str, Any] = {}
    for key, role in roles.items():
        if role == "output_dir":
            values[key] = results_dir
        elif role == "resume_model" and resume_path:
            values[key] = resume_path
        elif role == "key" and encryption_key:
            values[key] = encryption_key
        elif role in OUTPUT_FILES:
            values[key] = f"{results_dir.rstrip('/')}/{OUTPUT_FILES[role]}"
    if base_checkpoint and not resume_path:
        values.update(dict.fromkeys(checkpoint_keys(roles), base_checkpoint))
    if "output_dir" not in roles.values():
        for key, decl in outputs.items():
            kind = decl.get("type", "folder") if isinstance(decl, Mapping) else "folder"
            if kind == "folder":
                values[str(key)] = results_dir
    if results_dir not in values.values():
        values["results_dir"] = results_dir
    return values
