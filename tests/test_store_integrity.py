"""A damaged run store (truncated, garbage, dropped table, corrupt page) is refused on resume with one clean line,
from Python and from the CLI — never a sqlite traceback, never a silently rebuilt table."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tao_automl.cli.main import main
from tao_automl.errors import WorkspaceError
from tao_automl.experiment.store import DB_NAME
from tao_automl.platforms.local.sdk import LocalSDK
from tao_automl.runner.loop import AutoMLRunner
from test_run_plan import SpecReadingSDK, _settings


def _truncate(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def _garbage_header(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[:100] = b"\x07" * 100
    db.write_bytes(bytes(data))


def _drop_recs(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE recs")
    conn.commit()
    conn.close()


def _corrupt_page(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    start = page  # the second page: the first table's b-tree
    data[start:start + page] = b"\xff" * page
    db.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {"truncated": _truncate, "garbage_header": _garbage_header,
                                             "dropped_recs_table": _drop_recs, "corrupt_page": _corrupt_page}


def _finished_run(skill: Path, tmp_path: Path) -> Path:
    AutoMLRunner(SpecReadingSDK(), skill).run(automl_settings=_settings("random", automl_max_recommendations=3),
                                              workspace_path=tmp_path / "ws")
    (run_dir,) = (tmp_path / "ws").iterdir()
    return run_dir


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_api_resume_refuses_a_damaged_store(kind: str, toy_skill: Path, tmp_path: Path) -> None:
    run_dir = _finished_run(toy_skill, tmp_path)
    DAMAGE[kind](run_dir / DB_NAME)
    with pytest.raises(WorkspaceError, match=r"run store .* is damaged .*restore state\.db from a copy") as info:
        AutoMLRunner(SpecReadingSDK(), toy_skill).run(automl_settings=_settings("random", automl_max_recommendations=6),
                                                      workspace_path=run_dir, resume=True)
    assert "\n" not in str(info.value) and info.value.field == "run_dir"
    if kind == "dropped_recs_table":  # never silently rebuilt
        tables = {r[0] for r in sqlite3.connect(run_dir / DB_NAME).execute("SELECT name FROM sqlite_master")}
        assert "recs" not in tables


@pytest.mark.parametrize("kind", ["truncated", "dropped_recs_table"])
def test_cli_resume_refuses_a_damaged_store(kind: str, toy_skill: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), toy_skill).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                         "poll_interval_s": 0.2}, workspace_path=tmp_path / "ws", gpu_count=0)
    (run_dir,) = (tmp_path / "ws").iterdir()
    DAMAGE[kind](run_dir / DB_NAME)
    assert main(["resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "is damaged" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_lock_error_names_the_holders_pid_even_before_it_wrote_it(tmp_path: Path) -> None:
    """A process holding the run folder's flock without having written its pid yet is still named."""
    import subprocess
    import sys

    from tao_automl.errors import WorkspaceLockedError
    from tao_automl.experiment.workspace import LOCK_NAME, RunLock

    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / LOCK_NAME)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(WorkspaceLockedError, match=rf"\(pid {holder.pid}\)") as caught:
            RunLock(tmp_path).acquire()
        assert caught.value.to_json()["hint"] == f"poll `tao-automl status {tmp_path}` until it ends, or " \
            f"`tao-automl stop {tmp_path}`"  # the real folder, not the RUN_DIR placeholder
    finally:
        holder.kill()
        holder.wait()


CLI_READERS = [["status"], ["export", "--csv", "{out}/x.csv"], ["export", "--best", "-o", "{out}/x.json"],
               ["report", "-o", "{out}/x.html"], ["logs", "1"], ["resume"], ["stop"]]
MCP_READERS = ["sweep_status", "best_config", "report", "resume_sweep", "stop_sweep"]


def test_every_surface_says_the_same_next_step_for_a_damaged_store(toy_skill: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """With state.db truncated only `status` said what to do (restore it or start a new run): export, report, logs,
    resume, stop and every MCP tool hinted "pass the run folder printed by ..." (a search for a run that is right
    here), and resume/stop's message said it could not be *resumed*. Every surface now gives the same hint."""
    import json

    from tao_automl.agentapi.tools import call_tool
    from tao_automl.experiment.store import DAMAGED_HINT

    run_dir = _finished_run(toy_skill, tmp_path)
    _truncate(run_dir / DB_NAME)
    hints: dict[str, str] = {}
    for argv in CLI_READERS:
        args = [a.format(out=tmp_path) for a in argv]
        main([args[0], str(run_dir), *args[1:], "--json"])
        hints[args[0] + " " + " ".join(args[1:2])] = json.loads(capsys.readouterr().out)["error"]["hint"]
    for tool in MCP_READERS:
        answer, failed = call_tool(tool, {"run_dir": str(run_dir)})
        assert failed, answer
        hints[f"mcp {tool}"] = answer["error"]["hint"]
    assert hints == {name: DAMAGED_HINT for name in hints}


def test_every_surface_refuses_a_store_of_a_newer_format_and_leaves_it_untouched(
        toy_skill: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run folder made by a newer tao-run-automl (a store format this code does not know) was read as if it were
    its own: its numbers could be silently wrong, and resume/stop wrote into it. Every command and MCP tool now
    refuses it with one line naming the folder, the format found and the next step (upgrade), and state.db keeps
    every byte; `runs` lists it as unreadable with the same words."""
    import json

    from tao_automl.agentapi.tools import call_tool
    from tao_automl.experiment.store import NEWER_FORMAT_HINT, STORE_FORMAT

    run_dir = _finished_run(toy_skill, tmp_path)
    conn = sqlite3.connect(run_dir / DB_NAME)
    conn.execute(f"PRAGMA user_version = {STORE_FORMAT + 1}")
    conn.commit()
    conn.close()
    before = (run_dir / DB_NAME).read_bytes()
    errors: dict[str, dict[str, Any]] = {}
    for argv in CLI_READERS:
        args = [a.format(out=tmp_path) for a in argv]
        code = main([args[0], str(run_dir), *args[1:], "--json"])
        errors[" ".join(args[:2])] = {**json.loads(capsys.readouterr().out)["error"], "exit": code}
    for tool in MCP_READERS:
        answer, failed = call_tool(tool, {"run_dir": str(run_dir)})
        assert failed, answer
        errors[f"mcp {tool}"] = {**answer["error"], "exit": 2}
    for name, error in errors.items():
        assert error["hint"] == NEWER_FORMAT_HINT, name
        assert f"has store format {STORE_FORMAT + 1}, newer than" in error["message"], name
        assert str(run_dir) in error["message"] and error["field"] == "run_dir", name
        assert error["exit"] == 2, name
    assert (run_dir / DB_NAME).read_bytes() == before
    main(["runs", str(run_dir.parent), "--json"])
    (listed,) = json.loads(capsys.readouterr().out)["runs"]
    assert f"store format {STORE_FORMAT + 1}" in listed["error"] and NEWER_FORMAT_HINT in listed["error"]


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SQLite statement on a run store fails as it did on a real full disk (a 10 MB ext4 loop mount, which a
    test cannot make): SQLITE_IOERR_SHMSIZE, "disk I/O error", raised when the first connection to an intact
    state.db cannot grow its WAL index (state.db-shm), even to read it; a write that finds no room is SQLITE_FULL."""
    import tao_automl.experiment.store as store_module

    real_connect = sqlite3.connect

    def error() -> sqlite3.OperationalError:
        exc = sqlite3.OperationalError("disk I/O error")
        exc.sqlite_errorcode = 4874  # type: ignore[attr-defined]  # SQLITE_IOERR_SHMSIZE
        return exc

    class FullDisk(sqlite3.Connection):
        def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
            raise error()

        def executescript(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
            raise error()

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real_connect(*args, **kwargs, factory=FullDisk)

    monkeypatch.setattr(store_module.sqlite3, "connect", connect)


def test_an_intact_store_on_a_full_disk_is_not_called_damaged(toy_skill: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """On a full disk SQLite cannot open a run's intact state.db (its WAL index must grow, even for a read): status,
    export, report, logs, runs and the MCP tools said the run store was damaged, "restore state.db from a copy, or
    start a new run", and resume and stop said "run store ... is damaged (disk I/O error)" (a user could discard a
    good run). Each now says the disk is full and to free space; resume and stop name the run to resume. An ENOSPC
    reaching an MCP tool (or `--json`'s fallback) was "kind internal: this is a bug"; it is the full-disk error."""
    import json

    from tao_automl.agentapi.tools import call_tool
    from tao_automl.experiment.store import DAMAGED_HINT

    run_dir = _finished_run(toy_skill, tmp_path)
    _full_disk(monkeypatch)
    errors: dict[str, dict[str, Any]] = {}
    for argv in CLI_READERS:
        args = [a.format(out=tmp_path) for a in argv]
        assert main([args[0], str(run_dir), *args[1:], "--json"]) == 2
        errors[args[0] + " " + " ".join(args[1:2])] = json.loads(capsys.readouterr().out)["error"]
    for name, error in errors.items():
        assert "damaged" not in error["message"] and error["hint"] != DAMAGED_HINT, (name, error)
        if name.split()[0] in ("resume", "stop"):  # the store is opened to write: the CLI's full-disk error
            assert error["message"].startswith("no space left on the device"), (name, error)
            assert f"`tao-automl resume {run_dir}`" in error["hint"], (name, error)
        else:
            from tao_automl.experiment.store import FULL_DISK_HINT

            assert "no space left on the device" in error["message"] and error["hint"] == FULL_DISK_HINT, (name, error)
    for tool in MCP_READERS:
        answer, failed = call_tool(tool, {"run_dir": str(run_dir)})
        error = answer["error"]
        assert failed and "damaged" not in error["message"] and error["kind"] == "workspace", (tool, answer)
        assert "no space left on the device" in error["message"], (tool, answer)  # never "internal ... a bug"
    import errno

    from tao_automl.errors import error_json

    full = error_json(OSError(errno.ENOSPC, "No space left on device", str(run_dir / "events.jsonl")))["error"]
    assert full["kind"] == "workspace" and full["message"].startswith("no space left on the device"), full
    assert main(["runs", str(run_dir.parent), "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)["runs"]
    assert listed["error"].startswith("unreadable: no space left on the device"), listed


#: A store SQLite finds intact whose values are not what the code wrote (an edited file, a bad copy, a bug): the
#: statement that damages it, and the words the refusal must name (found by a fuzz of the run folder).
CONTENT_DAMAGE: dict[str, tuple[str, str]] = {
    "meta_not_json": ("UPDATE meta SET value = '{not json' WHERE key = 'algorithm'", "meta 'algorithm'"),
    "meta_budget_a_list": ("UPDATE meta SET value = '[1, 2]' WHERE key = 'budget'", "meta 'budget'"),
    "meta_budget_null": ("UPDATE meta SET value = 'null' WHERE key = 'budget'", "meta 'budget'"),
    "meta_created_at_text": ("UPDATE meta SET value = '\"x\"' WHERE key = 'created_at'", "meta 'created_at'"),
    "meta_settings_a_list": ("UPDATE meta SET value = '[1]' WHERE key = 'settings'", "meta 'settings'"),
    "meta_metric_list_of_numbers": ("UPDATE meta SET value = '[1, 2]' WHERE key = 'metric'", "meta 'metric'"),
    "meta_direction_unknown": ("UPDATE meta SET value = '[\"up\"]' WHERE key = 'direction'", "meta 'direction'"),
    "meta_space_of_numbers": ("UPDATE meta SET value = '[1, 2]' WHERE key = 'space'", "meta 'space'"),
    "meta_run_dir_not_json": ("UPDATE meta SET value = '{x' WHERE key = 'run_dir'", "meta 'run_dir'"),
    "meta_run_args_missing": ("DELETE FROM meta WHERE key = 'run_args'", "meta 'run_args' is missing"),
    "meta_platform_missing": ("DELETE FROM meta WHERE key = 'platform'", "meta 'platform' is missing"),
    "rec_status_unknown": ("UPDATE recs SET status = 'bogus' WHERE rec_id = 2", "rec 2: status"),
    "rec_params_not_json": ("UPDATE recs SET params = '{x' WHERE rec_id = 1", "rec 1: params"),
    "rec_params_null": ("UPDATE recs SET params = 'null' WHERE rec_id = 1", "rec 1: params"),
    "rec_metric_text": ("UPDATE recs SET metric_value = 'abc' WHERE rec_id = 1", "rec 1: metric_value"),
    "rec_finished_at_text": ("UPDATE recs SET finished_at = 'x' WHERE rec_id = 3", "rec 3: finished_at"),
    "rec_budget_text": ("UPDATE recs SET budget = 'x' WHERE rec_id = 1", "rec 1: budget"),
}


@pytest.mark.parametrize("kind", sorted(CONTENT_DAMAGE))
def test_every_surface_refuses_a_store_whose_values_are_damaged(kind: str, toy_skill: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A meta value that is not JSON or not of its type, or a rec row whose column holds what no code wrote, passed
    SQLite's checks and then failed deep inside each reader: `status` printed a Python traceback (JSONDecodeError,
    AttributeError, TypeError), export/report/logs/resume/stop and the MCP tools an internal error ("this is a bug").
    Each now refuses it as a damaged store, naming the key or the rec and column, with the damaged store's hint."""
    import json

    from tao_automl.agentapi.tools import call_tool
    from tao_automl.experiment.store import DAMAGED_HINT

    run_dir = _finished_run(toy_skill, tmp_path)
    statement, named = CONTENT_DAMAGE[kind]
    conn = sqlite3.connect(run_dir / DB_NAME)
    conn.execute(statement)
    conn.commit()
    conn.close()
    refused = []
    for argv in [*CLI_READERS, ["status", "--recs", "all"]]:
        args = [a.format(out=tmp_path) for a in argv]
        for as_json in (True, False):
            code = main([args[0], str(run_dir), *args[1:], *(["--json"] if as_json else [])])
            out, err = capsys.readouterr()
            assert "Traceback" not in out + err and code in (0, 2), (args, as_json, code, out[-500:], err[-1500:])
            if code == 2:
                if as_json:
                    error = json.loads(out)["error"]
                    assert error["hint"] == DAMAGED_HINT and named in error["message"], (args, error)
                else:
                    assert named in err and len(err.strip().splitlines()) == 1, (args, err)
                refused.append(args[0])
    assert "status" in refused and "export" in refused and "report" in refused, refused
    for tool in ("sweep_status", "best_config", "report"):
        answer, failed = call_tool(tool, {"run_dir": str(run_dir)})  # a summary may not read the damaged row
        assert failed or tool != "report", (tool, answer)
        if failed:
            assert answer["error"]["hint"] == DAMAGED_HINT and named in answer["error"]["message"], (tool, answer)


@pytest.mark.parametrize("table", ["recs", "events"])
def test_every_surface_refuses_a_store_with_a_table_dropped(table: str, toy_skill: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A store missing a table was refused by the commands that open it to write (resume) but not by those that read
    it: `stop` on a finished run whose recs table was dropped failed with an internal error (OperationalError: no
    such table: recs). A read-only open now checks the tables as a writable one does: every surface refuses it as a
    damaged store naming the table."""
    import json

    from tao_automl.agentapi.tools import call_tool
    from tao_automl.experiment.store import DAMAGED_HINT

    run_dir = _finished_run(toy_skill, tmp_path)
    conn = sqlite3.connect(run_dir / DB_NAME)
    conn.execute(f"DROP TABLE {table}")
    conn.commit()
    conn.close()
    for argv in CLI_READERS:
        args = [a.format(out=tmp_path) for a in argv]
        code = main([args[0], str(run_dir), *args[1:], "--json"])
        out, err = capsys.readouterr()
        assert code in (0, 2) and "Traceback" not in out + err, (args, code, out, err[-1000:])
        if code == 2:
            error = json.loads(out)["error"]
            assert error["hint"] == DAMAGED_HINT and f"table(s) {table} missing" in error["message"], (args, error)
    for tool in MCP_READERS:
        answer, failed = call_tool(tool, {"run_dir": str(run_dir)})
        assert not failed or answer["error"]["hint"] == DAMAGED_HINT, (tool, answer)
    assert main(["stop", str(run_dir), "--json"]) == 2
    assert f"table(s) {table} missing" in json.loads(capsys.readouterr().out)["error"]["message"]


def test_a_lock_file_that_is_a_folder_is_refused_naming_it(toy_skill: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A run folder whose orchestrator.lock is a folder (made by hand, or a bad copy) made `resume` fail with an
    internal error (IsADirectoryError: [Errno 21] Is a directory); it is now a workspace error naming the lock file
    and what to do, from the CLI and from Python."""
    import json

    from tao_automl.experiment.workspace import LOCK_NAME

    run_dir = _finished_run(toy_skill, tmp_path)
    conn = sqlite3.connect(run_dir / DB_NAME)  # a run its stop interrupted: a resume takes its lock
    conn.execute("UPDATE meta SET value = '\"interrupted\"' WHERE key = 'state'")
    conn.commit()
    conn.close()
    (run_dir / LOCK_NAME).unlink()
    (run_dir / LOCK_NAME).mkdir()
    assert main(["resume", str(run_dir), "--json"]) == 2
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    assert "Traceback" not in out + err and error["kind"] == "workspace" and error["field"] == "run_dir", error
    assert f"{LOCK_NAME!r} is a folder" in error["message"].replace(str(run_dir) + "/", ""), error
    with pytest.raises(WorkspaceError, match="is a folder, not a file"):
        AutoMLRunner(SpecReadingSDK(), toy_skill).run(automl_settings=_settings("random", automl_max_recommendations=3),
                                                      workspace_path=run_dir, resume=True)
