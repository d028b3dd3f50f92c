"""The arguments of one ``run()``, persisted with the run so ``resume`` needs nothing but the folder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tao_automl.errors import WorkspaceError

#: Fields that may differ on resume (more budget/parallelism is handled by the settings check).
_RESUME_FREE = frozenset({"automl_settings", "platform_kwargs"})


@dataclass(frozen=True)
class RunArgs:
    """What ``AutoMLRunner.run`` was asked to do."""

    skill_dir: str
    action: str = "train"
    train_dataset_uri: str | None = None
    eval_dataset_uri: str | None = None
    base_checkpoint: str = ""
    image: str | None = None
    dataset_keys: dict[str, str] = field(default_factory=dict)
    automl_settings: dict[str, Any] = field(default_factory=dict)
    automl_hyperparameters: list[str] | None = None
    custom_param_ranges: dict[str, Any] = field(default_factory=dict)
    spec_overrides: dict[str, Any] = field(default_factory=dict)
    platform_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.automl_hyperparameters is not None:
            object.__setattr__(self, "automl_hyperparameters", list(self.automl_hyperparameters))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        settings = dict(data["automl_settings"])
        if settings.get("llm_api_key"):
            settings.pop("llm_api_key")  # secrets are never written to the run folder
        data["automl_settings"] = settings
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunArgs:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def merged_with(self, given: RunArgs) -> RunArgs:
        """Stored args, with what the resuming caller gave; a changed input is an error listing the diff."""
        merged = asdict(self)
        changes = []
        for f in fields(self):
            new = getattr(given, f.name)
            if new in (None, "", {}, []):
                continue
            if f.name in _RESUME_FREE:
                merged[f.name] = {**merged[f.name], **new}
            elif new != merged[f.name]:
                changes.append(f"{f.name}: {merged[f.name]!r} -> {new!r}")
        if changes:
            raise WorkspaceError("cannot resume with different inputs: " + "; ".join(changes))
        return RunArgs(**merged)
