"""Every workspace error names its own next step: the class's default hint ("pass the run folder printed by
`tao-automl run --detach`") was shown on errors that had nothing to do with a wrong folder (a rec whose job folder
was deleted, a workspace that does not exist, a damaged state.db), sending agents to look for another folder."""

from __future__ import annotations

import ast
from pathlib import Path

import tao_automl

PACKAGE = Path(tao_automl.__file__).parent


def test_every_workspace_error_raised_gives_its_own_hint() -> None:
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "WorkspaceError" \
                    and not any(k.arg in ("hint", None) for k in node.keywords):  # None: **kwargs passed on
                missing.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert missing == []


def test_runs_of_a_missing_workspace_and_logs_of_a_lost_job_say_what_to_do(tmp_path: Path) -> None:
    from tao_automl.errors import WorkspaceError
    from tao_automl.export.runs import list_runs

    try:
        list_runs(tmp_path / "nowhere")
    except WorkspaceError as exc:
        assert exc.hint is not None and "workspace_path" in exc.hint and "--detach" not in exc.hint
    else:
        raise AssertionError("a missing workspace was listed")
