"""Run folders never collide, are locked against a second orchestrator, and the store is durable."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tao_automl.errors import WorkspaceError, WorkspaceLockedError
from tao_automl.experiment import holder as holder_module
from tao_automl.experiment import ofd_lock
from tao_automl.experiment.holder import UNSEEN, flock_holder, lock_holder
from tao_automl.experiment.lines import orchestrator_line
from tao_automl.experiment.store import RunStore
from tao_automl.experiment.workspace import LOCK_NAME, RunLock, existing_run_dir, new_run_dir


def test_run_dirs_started_in_the_same_second_differ(tmp_path: Path) -> None:
    dirs = {new_run_dir(tmp_path) for _ in range(20)}
    assert len(dirs) == 20
    assert all(d.name.startswith("run_") for d in dirs)


def test_the_newest_run_sorts_last_whatever_the_time_zone_each_run_was_started_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run started at 10:15 UTC under TZ=UTC was named run_..._101550, one started 11 minutes later from a shell
    with TZ=America/New_York run_..._052636: `status WORKSPACE` (its newest run, the last name) showed the older one
    and called it the newest."""
    import time

    from tao_automl.experiment.run_folders import workspace_runs

    made = []
    try:
        for zone in ("UTC0", "EST5EDT", "XYZ-09"):  # each run a little later, in a zone further from the last
            monkeypatch.setenv("TZ", zone)
            time.tzset()
            run_dir = new_run_dir(tmp_path)
            (run_dir / "state.db").touch()  # workspace_runs lists folders holding a run's state
            made.append(run_dir.name)
            time.sleep(1.05)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert workspace_runs(str(tmp_path)) == made


def test_a_link_named_like_a_run_is_placed_by_the_run_it_leads_to(tmp_path: Path) -> None:
    """A link ``run_<stamp>`` to a run kept elsewhere was placed by the stamp in the link's own name, which says
    when the link was made (or nothing), not when the run started. It is placed by its run's start now: the stamp
    of the folder it leads to when `tao-automl run` named that folder, else the start its state records."""
    from tao_automl.experiment.run_folders import workspace_runs

    ws, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    ws.mkdir()
    for folder in (ws / "run_20240101_000000", elsewhere / "run_20250101_000000"):
        folder.mkdir(parents=True)
        (folder / "state.db").touch()
    older = elsewhere / "made_by_automl"
    older.mkdir()
    store = RunStore(older)
    store.set_meta({"created_at": 946684800.0})  # 2000-01-01
    store.close()
    (ws / "run_20200101_000000").symlink_to(elsewhere / "run_20250101_000000")  # a 2025 run
    (ws / "run_20990101_000000").symlink_to(older)  # a 2000 run
    assert workspace_runs(ws) == ["run_20990101_000000", "run_20240101_000000", "run_20200101_000000"]


def test_second_orchestrator_is_refused_with_holder_pid(tmp_path: Path) -> None:
    run_dir = new_run_dir(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            sys.path.insert(0, {str(Path(__file__).resolve().parents[1] / 'src')!r})
            from pathlib import Path
            from tao_automl.experiment.workspace import RunLock
            RunLock(Path({str(run_dir)!r})).acquire()
            print("locked", flush=True)
            time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(WorkspaceLockedError, match=f"pid {holder.pid}"):
            RunLock(run_dir).acquire()
    finally:
        holder.kill()
        holder.wait()
    RunLock(run_dir).acquire().release()  # the OS released the killed holder's lock


def test_lock_holder_names_the_live_holder_and_none_once_it_released_or_died(tmp_path: Path) -> None:
    """``status`` and ``stop`` ask who holds the lock without taking it: the holder while it holds it; None
    once it released it (though it lives on) or was killed (its pid stays in the lock file)."""
    run_dir = new_run_dir(tmp_path)
    assert lock_holder(run_dir) is None  # no lock file yet
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).resolve().parents[1] / 'src')!r})
            from pathlib import Path
            from tao_automl.experiment.workspace import RunLock
            lock = RunLock(Path({str(run_dir)!r})).acquire()
            print("locked", flush=True)
            sys.stdin.readline()
            lock.release()
            print("released", flush=True)
            sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert lock_holder(run_dir) == holder.pid
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        assert lock_holder(run_dir) is None  # alive, named in the file, but no longer holding
        with RunLock(run_dir):
            assert lock_holder(run_dir) == os.getpid()
    finally:
        holder.kill()
        holder.wait()
    (run_dir / LOCK_NAME).write_text(str(holder.pid))  # a killed holder's pid left behind
    assert lock_holder(run_dir) is None
    # a new holder between taking the lock and writing its pid: the file is empty, or names a dead process; the
    # answer was "nobody" (`run --detach --json` once printed "alive": false for a running orchestrator)
    with RunLock(run_dir):
        for stale in ("", str(holder.pid)):
            (run_dir / LOCK_NAME).write_text(stale)
            assert lock_holder(run_dir) == os.getpid(), stale


@pytest.mark.skipif(not ofd_lock.SUPPORTED, reason="OFD locks are Linux-only")
def test_lock_holder_reads_the_holder_from_its_ofd_locks_without_proc_locks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``status`` asks who holds the lock through the holder's OFD locks: the first read of ``/proc/locks`` in a
    process costs 5-25 ms on this machine kind (a third of ``status``'s start-up). ``/proc/locks`` is read only
    while a holder is between taking the lock and taking its pid byte."""
    run_dir = new_run_dir(tmp_path)
    read_proc_locks: list[int] = []

    def counting_flock_holder(fd: int) -> int | None:
        read_proc_locks.append(fd)
        return flock_holder(fd)

    monkeypatch.setattr(holder_module, "flock_holder", counting_flock_holder)
    with RunLock(run_dir) as lock:
        (run_dir / LOCK_NAME).write_text("")  # the pid in the file is not what answers
        assert lock_holder(run_dir) == os.getpid()
        with pytest.raises(WorkspaceLockedError, match=f"pid {os.getpid()}"):
            RunLock(run_dir).acquire()
        assert lock._fd is not None and not read_proc_locks
        ofd_lock.drop(lock._fd)
        assert lock_holder(run_dir) is None  # a holder counts from its "held" byte (taken right after the flock)
        ofd_lock._request(lock._fd, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, 0, 1)
        assert not read_proc_locks
        assert lock_holder(run_dir) == os.getpid()  # "held" but no pid byte yet: /proc/locks names the holder
        assert len(read_proc_locks) == 1
    assert lock_holder(run_dir) is None and len(read_proc_locks) == 1  # released: nobody, without /proc/locks
    with RunLock(run_dir):  # a released lock (OFD locks dropped before the flock) is taken again at once
        assert lock_holder(run_dir) == os.getpid() and len(read_proc_locks) == 1
        # a holder on another machine sharing the folder (NFS), or in another pid namespace: its pid is not one here
        where = ofd_lock.where_pids_count()
        monkeypatch.setattr(ofd_lock, "where_pids_count", lambda: where + 1)
        assert lock_holder(run_dir) == os.getpid() and len(read_proc_locks) == 2  # as /proc/locks numbers it


@pytest.mark.skipif(not ofd_lock.SUPPORTED or shutil.which("unshare") is None, reason="Linux pid namespaces")
def test_lock_holder_names_a_holder_in_another_pid_namespace_as_this_process_sees_it(tmp_path: Path) -> None:
    """An orchestrator in a container (its own pid namespace) is pid 1 or 2 there: the pid in its OFD lock is not
    a pid here, and `tao-automl stop` signalled that number on the host (kthreadd; init for a pid 1). A holder in
    another namespace is named as /proc/locks numbers it here."""
    run_dir = new_run_dir(tmp_path)
    src = str(Path(__file__).resolve().parents[1] / "src")
    script = (f"import sys, time; sys.path.insert(0, {src!r}); from pathlib import Path; "
              f"from tao_automl.experiment.workspace import RunLock; RunLock(Path({str(run_dir)!r})).acquire(); "
              "import os; print(os.getpid(), flush=True); time.sleep(30)")
    holder = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-c", script],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        inner = holder.stdout.readline().strip()
        if not inner:
            pytest.skip(f"unshare --pid is not allowed here: {holder.stderr.read() if holder.stderr else ''}")
        children = Path(f"/proc/{holder.pid}/task/{holder.pid}/children").read_text().split()
        assert inner == "1" and len(children) == 1  # pid 1 in its namespace, another number here
        assert lock_holder(run_dir) == int(children[0])
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.skipif(not ofd_lock.SUPPORTED or shutil.which("unshare") is None, reason="Linux pid namespaces")
def test_a_reader_that_cannot_see_the_holder_still_knows_the_run_is_held(tmp_path: Path) -> None:
    """A reader in a child pid namespace (a container watching a run orchestrated on the host): the holder's pid
    means nothing there and /proc/locks hides its locks. The run read as not orchestrated (status: interrupted,
    alive false) while it ran; it is held by an unseen process, and `stop` says it cannot signal it (signalling
    "pid 0" would hit the reader's own process group)."""
    run_dir = new_run_dir(tmp_path)
    src = str(Path(__file__).resolve().parents[1] / "src")
    script = (f"import sys, json; sys.path.insert(0, {src!r}); "
              "from tao_automl.experiment.holder import lock_holder, orchestrator_info; "
              f"print(json.dumps([lock_holder({str(run_dir)!r}), orchestrator_info({str(run_dir)!r})]))")
    with RunLock(run_dir):
        done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", script],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0 and "unshare" in done.stderr:
            pytest.skip(f"unshare --pid is not allowed here: {done.stderr.strip()}")
        assert done.returncode == 0, done.stderr
        pid, info = json.loads(done.stdout)
        assert pid == UNSEEN and info["alive"] is True and info["pid"] is None, (pid, info)
        assert "another pid namespace" in orchestrator_line({**info, "pid": None}, str(run_dir), {})


def test_a_flock_alone_is_named_when_asked_thoroughly(tmp_path: Path) -> None:
    """An orchestrator of a version before the OFD locks holds the flock alone: `lock_holder` does not see it (its
    fast answer), but an answer that must name a holder known to exist (`resume --detach` losing the race) asks
    /proc/locks and names it instead of "pid None"."""
    run_dir = new_run_dir(tmp_path)
    fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert lock_holder(run_dir) is None
        assert lock_holder(run_dir, thorough=True) == os.getpid()
        with pytest.raises(WorkspaceLockedError, match=f"pid {os.getpid()}"):
            RunLock(run_dir).acquire()
    finally:
        os.close(fd)


@pytest.mark.skipif(not ofd_lock.SUPPORTED, reason="Linux OFD locks")
def test_a_reused_pid_in_the_lock_file_is_no_holder_where_proc_locks_is_unreadable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock file of an ended run names a pid that an unrelated process now runs (reused, or the folder copied
    from another machine). Where /proc/locks cannot be read, lock_holder answered that pid: status called the run
    orchestrated and `stop` would signal that unrelated process. Nobody holds the lock: the answer is None."""
    run_dir = new_run_dir(tmp_path)
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / LOCK_NAME).write_text(str(unrelated.pid))  # alive, holding no lock
        real_open = open

        def no_proc_locks(file: object, *args: object, **kwargs: object) -> object:
            if file == "/proc/locks":
                raise PermissionError(13, "Permission denied", file)
            return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr(holder_module, "open", no_proc_locks, raising=False)
        assert lock_holder(run_dir) is None
    finally:
        unrelated.kill()
        unrelated.wait()


def test_an_orchestrator_of_a_version_before_the_ofd_locks_is_seen_alive_by_status_and_stopped_by_stop(
        tmp_path: Path) -> None:
    """After an upgrade mid-sweep, the older orchestrator still running holds the flock alone with its pid in the
    lock file (as every version did): status called it "ended without closing the run (killed or crashed)" and
    `stop` answered was_running false without signalling it, and the sweep went on. A live pid named in the file
    is now checked against /proc/locks: the holder is named, status shows it alive, and stop ends it."""
    from tao_automl.experiment.holder import orchestrator_info
    from tao_automl.runner.detach import stop_run

    run_dir = new_run_dir(tmp_path)
    RunStore(run_dir).set_meta({"state": "running", "mode": "runner"})
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import fcntl, os, signal, sys, time
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
            fd = os.open({str(run_dir / LOCK_NAME)!r}, os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # an older version's lock: no OFD locks
            os.write(fd, str(os.getpid()).encode())
            print("locked", flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert lock_holder(run_dir) == holder.pid
        info = orchestrator_info(run_dir)
        assert info["alive"] is True and info["pid"] == holder.pid, info
        stopped = stop_run(run_dir, timeout_s=20)
        assert stopped["was_running"] is True and stopped["pid"] == holder.pid, stopped
        assert holder.wait(timeout=20) == 130
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_orchestrator_not_yet_reaped_holds_nothing_and_a_resume_takes_the_lock_at_once(
        tmp_path: Path) -> None:
    """A SIGKILLed orchestrator that its parent has not reaped yet is a zombie: `kill -0` still passes for the pid
    its lock file names, but the kernel released its locks when it died. That pid is not a holder: status sees no
    orchestrator, and the lock is taken at once (the look-up for orchestrators of older versions asks /proc/locks
    only for a pid that runs)."""
    from tao_automl.experiment.holder import orchestrator_info, runs

    run_dir = new_run_dir(tmp_path)
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from tao_automl.experiment.workspace import RunLock
            RunLock(Path({str(run_dir)!r})).acquire()
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "locked"
        assert lock_holder(run_dir) == child.pid
        os.kill(child.pid, signal.SIGKILL)  # not reaped: a zombie until child.wait()
        deadline = time.monotonic() + 10
        while runs(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not runs(child.pid)
        os.kill(child.pid, 0)  # a zombie: kill -0 still passes
        assert int((run_dir / LOCK_NAME).read_text()) == child.pid
        assert lock_holder(run_dir) is None and orchestrator_info(run_dir)["alive"] is False
        RunLock(run_dir).acquire().release()
    finally:
        child.kill()
        child.wait()


def _killed_holder_whose_child_keeps_the_lock(run_dir: Path, child_s: float) -> int:
    """An orchestrator that took the run lock and forked a child (one between fork and exec shares the lock's open
    file), SIGKILLed and reaped at once while the child lives on for ``child_s``; its pid."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        from tao_automl.experiment.workspace import RunLock
        RunLock(Path({str(run_dir)!r})).acquire()
        if os.fork() == 0:
            time.sleep({child_s}); os._exit(0)
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait()
    return holder.pid


def test_a_resume_right_after_kill_9_waits_for_the_lock_a_child_of_the_killed_orchestrator_still_shares(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 of an orchestrator, then a resume at once, was refused "in use by another orchestrator (pid N)" with
    N the killed pid: a process it had forked (a job's start, between fork and exec) shared the lock's open file,
    so the lock outlived it for a moment. A lock whose holder has ended is now waited for (DEAD_HOLDER_WAIT_S);
    one still held after that is refused naming the ended orchestrator and what holds it, not a live one."""
    from tao_automl.experiment import workspace

    run_dir = new_run_dir(tmp_path)
    _killed_holder_whose_child_keeps_the_lock(run_dir, child_s=1.0)
    RunLock(run_dir).acquire().release()  # waited for the child: taken
    monkeypatch.setattr(workspace, "DEAD_HOLDER_WAIT_S", 0.5)
    other = new_run_dir(tmp_path)
    dead = _killed_holder_whose_child_keeps_the_lock(other, child_s=5.0)
    with pytest.raises(WorkspaceLockedError, match=f"still locked 0.5 s after its orchestrator \\(pid {dead}\\) ended"):
        RunLock(other).acquire()


def test_status_right_after_kill_9_does_not_call_the_dead_orchestrator_alive(tmp_path: Path) -> None:
    """For a moment after kill -9 of an orchestrator, a process it had forked shares the run lock, whose record names
    the killed pid: status said "orchestrator: alive (pid N, ...)" with N dead (a `kill N` fails, and a resume is
    waited for, not refused). The ended holder is no orchestrator: not alive, no pid."""
    from tao_automl.experiment.holder import orchestrator_info

    run_dir = new_run_dir(tmp_path)
    dead = _killed_holder_whose_child_keeps_the_lock(run_dir, child_s=5.0)
    assert lock_holder(run_dir) == dead  # the lock is still held, by the child
    info = orchestrator_info(run_dir)
    assert info["alive"] is False and info["pid"] is None
    assert orchestrator_line(info, str(run_dir), {}).startswith("orchestrator: not running")


def test_a_live_orchestrator_of_another_user_hidden_by_proc_is_refused_at_once_not_called_ended(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc mounted hidepid=2 (shared clusters) hides another user's processes: kill -0 says such a holder exists
    (EPERM) but /proc/PID/stat is missing. holder.runs called it ended, so a second orchestrator waited
    DEAD_HOLDER_WAIT_S and was then told the live holder had "ended" and a child shared its lock. It is alive:
    refused at once as in use."""
    from tao_automl.experiment import workspace

    run_dir = new_run_dir(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from tao_automl.experiment.workspace import RunLock
        RunLock(Path({str(run_dir)!r})).acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        real_kill, real_open = os.kill, open

        def kill_as_another_user(pid: int, sig: int) -> None:
            if pid == holder.pid:
                raise PermissionError(1, "Operation not permitted")
            real_kill(pid, sig)

        def open_hidden(file: object, *args: object, **kwargs: object) -> object:
            if file == f"/proc/{holder.pid}/stat":
                raise FileNotFoundError(2, "No such file or directory", file)
            return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr(holder_module.os, "kill", kill_as_another_user)
        monkeypatch.setattr(holder_module, "open", open_hidden, raising=False)
        monkeypatch.setattr(workspace, "DEAD_HOLDER_WAIT_S", 3.0)
        started = time.monotonic()
        with pytest.raises(WorkspaceLockedError, match=f"in use by another orchestrator \\(pid {holder.pid}\\)"):
            RunLock(run_dir).acquire()
        assert time.monotonic() - started < 2.0
    finally:
        monkeypatch.undo()
        holder.kill()
        holder.wait()


def test_store_round_trip_and_readonly_reader(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.set_meta({"budget": 3, "direction": "minimize"})
    store.add_rec(1, {"lr": 0.1}, {"train": {"lr": 0.1}}, "job-1")
    store.mark_submitted(1, "j1", "/tmp/r1")
    reader = RunStore(tmp_path, readonly=True)
    assert reader.recs()[0].status == "pending"
    store.finish_rec(1, "success", 0.5, None)
    assert reader.recs()[0].metric_value == 0.5  # a reader sees committed writes
    kinds = [e["kind"] for e in reader.events()]
    assert kinds == ["rec_created", "job_submitted", "rec_finished"]
    with pytest.raises(ValueError, match="final state"):
        store.finish_rec(1, "running", None, None)


#: The tables of a run store made by the first release (before spec_path, budget and budget_reached existed).
FIRST_RELEASE_TABLES = """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE recs (rec_id INTEGER PRIMARY KEY, params TEXT NOT NULL, specs TEXT NOT NULL,
        status TEXT NOT NULL, job_name TEXT, job_id TEXT, results_dir TEXT, metric_value REAL, message TEXT,
        trial TEXT, created_at REAL NOT NULL, submitted_at REAL, finished_at REAL, updated_at REAL NOT NULL);
    CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, rec_id INTEGER,
        kind TEXT NOT NULL, payload TEXT NOT NULL);
"""


def test_a_multi_fidelity_store_of_the_first_release_is_ranked_by_a_reader(tmp_path: Path) -> None:
    """A multi-fidelity run folder made before the budget_reached column existed, read as it is (status, query_status
    and the MCP status tool open it read-only, which adds no column): ranking it ran SQL on the missing column, and
    status called the intact run damaged ("no such column: budget_reached", restore state.db or start a new run).
    Its recs now rank by metric, as export --best and the report rank them (no budget reached is known)."""
    import sqlite3

    conn = sqlite3.connect(tmp_path / "state.db")
    conn.executescript(FIRST_RELEASE_TABLES + """
        INSERT INTO meta VALUES ('direction', '"maximize"');
        INSERT INTO recs (rec_id, params, specs, status, metric_value, trial, created_at, updated_at) VALUES
            (1, '{}', '{}', 'success', 0.5, '{"budget": 10, "rung": 0}', 1.0, 2.0),
            (2, '{}', '{}', 'success', 0.9, '{"budget": 10, "rung": 0}', 1.0, 2.0),
            (3, '{}', '{}', 'success', 0.7, '{"budget": 20, "rung": 1, "parent_id": 1}', 1.0, 2.0);
    """)
    conn.commit()
    conn.close()
    reader = RunStore(tmp_path, readonly=True)
    try:
        assert reader.is_multi_fidelity()
        assert reader.ranked_ids("maximize", True) == [2, 3, 1]
        assert reader.ranked_ids("maximize", True, limit=1, status="success") == [2]
    finally:
        reader.close()
    from tao_automl.status import query_status

    shown = query_status(tmp_path)
    assert "error" not in shown and shown["best"]["rec_id"] == 2, shown


def test_a_store_records_its_format_and_an_older_one_is_brought_up_to_it_only_by_a_writable_open(
        tmp_path: Path) -> None:
    """state.db had no format marker, so code could not tell a store it does not know from its own. A new store
    now records STORE_FORMAT (PRAGMA user_version); one made before the marker (format 0, without the columns added
    since) is read as it is by a reader, and a writable open adds its columns first and its format after."""
    import sqlite3

    from tao_automl.experiment.store import STORE_FORMAT

    def format_of(folder: Path) -> int:
        conn = sqlite3.connect(folder / "state.db")
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()

    (tmp_path / "new").mkdir()
    RunStore(tmp_path / "new").close()
    assert STORE_FORMAT >= 1 and format_of(tmp_path / "new") == STORE_FORMAT

    old = tmp_path / "old"
    old.mkdir()
    conn = sqlite3.connect(old / "state.db")
    conn.executescript(FIRST_RELEASE_TABLES + """
        INSERT INTO meta VALUES ('budget', '3');
        INSERT INTO recs (rec_id, params, specs, status, metric_value, created_at, updated_at)
            VALUES (1, '{"lr": 0.1}', '{}', 'success', 0.5, 1.0, 2.0);
    """)
    conn.commit()
    conn.close()
    reader = RunStore(old, readonly=True)
    assert [(r.rec_id, r.metric_value, r.budget) for r in reader.recs()] == [(1, 0.5, None)]
    reader.close()
    assert format_of(old) == 0  # a reader writes nothing
    writer = RunStore(old)
    assert writer.meta() == {"budget": 3} and writer.recs()[0].budget is None
    writer.close()
    assert format_of(old) == STORE_FORMAT


def test_existing_run_dir_without_state_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"^no run state at '.*' \(no state.db, and no run folder in it\)"):
        existing_run_dir(tmp_path)
    run_dir = new_run_dir(tmp_path)
    RunStore(run_dir).close()
    said = rf"^no run state at '.*' \(no state.db\): it is a workspace; it holds this run: {run_dir.name} \(pass it\)"
    with pytest.raises(WorkspaceError, match=said) as listed:
        existing_run_dir(tmp_path)  # the message lists the runs inside
    # MCP's stop_sweep/resume_sweep answered a workspace with "`tao-automl runs WORKSPACE` lists them", a command an
    # agent on MCP alone has no tool for: the run folders are what is allowed, by their full path
    assert listed.value.allowed == [str(run_dir)] and str(run_dir) in str(listed.value.hint)
    assert "tao-automl runs" not in str(listed.value.hint)
    with pytest.raises(WorkspaceError, match="is a run folder, not a workspace") as caught:
        new_run_dir(run_dir)
    assert f"`tao-automl resume {run_dir}`" in str(caught.value)  # the real folder, not RUN_DIR
    # named like every other bad input (an MCP start_sweep got field, value and allowed all null)
    assert caught.value.field == "workspace_path" and caught.value.value == str(run_dir) and caught.value.allowed


def test_preflight_fails_a_workspace_that_is_a_run_folder(tmp_path: Path) -> None:
    """Preflight said "workspace_path ... writable" for a run folder and the run then refused it; the check fails
    with the run's own error (field, value, allowed; the resume named as a command an agent's tool wording maps)."""
    from tao_automl.runner.preflight import workspace_check

    run_dir = new_run_dir(tmp_path)
    RunStore(run_dir).close()
    check = workspace_check(run_dir)
    assert check.ok is False and "is a run folder" in check.detail
    assert check.error is not None and check.error.field == "workspace_path"
    assert workspace_check(tmp_path).ok  # its workspace is fine


class _InterruptAfterBegin:
    """The store's connection, except that the first ``BEGIN`` is followed by a Ctrl-C (as a signal can be)."""

    def __init__(self, conn: object) -> None:
        self._conn = conn
        self.fired = False

    def execute(self, sql: str, *args: object) -> object:
        result = self._conn.execute(sql, *args)  # type: ignore[attr-defined]
        if sql.startswith("BEGIN") and not self.fired:
            self.fired = True
            raise KeyboardInterrupt("stop requested")
        return result

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


@pytest.mark.parametrize("opening", ["write", "snapshot"])
def test_a_transaction_cut_off_by_an_interrupt_does_not_block_the_closing_write(opening: str,
                                                                                tmp_path: Path) -> None:
    """``stop`` raises KeyboardInterrupt wherever the orchestrator is; right after a BEGIN the transaction
    was left open and the run's closing ``state: interrupted`` write failed (the run read as still running)."""
    store = RunStore(tmp_path)
    real = store._conn
    store._conn = _InterruptAfterBegin(real)  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        if opening == "write":
            store.set_meta({"state": "running"})
        else:
            with store.snapshot():
                pass
    store.set_meta({"state": "interrupted"}, event="run_interrupted")
    store.close()
    reader = RunStore(tmp_path, readonly=True)
    assert reader.meta()["state"] == "interrupted"
    reader.close()


def test_a_failed_write_leaves_nothing_and_a_snapshot_always_ends(tmp_path: Path) -> None:
    """A write transaction is all or nothing; a read snapshot ends (commits) even when its body raises."""
    store = RunStore(tmp_path)
    store.add_rec(1, {"lr": 0.1}, {}, "job-1")
    with pytest.raises(RuntimeError), store._tx() as conn:
        conn.execute("UPDATE recs SET status='running' WHERE rec_id=1")
        raise RuntimeError("the body failed half-way")
    assert not store._conn.in_transaction and store.rec(1).status == "created"
    with pytest.raises(RuntimeError), store.snapshot():
        assert store._conn.in_transaction
        raise RuntimeError("a read failed")
    assert not store._conn.in_transaction
    with store._tx() as conn:
        conn.execute("UPDATE recs SET status='running' WHERE rec_id=1")
    assert store.rec(1).status == "running"
    store.close()


@pytest.mark.parametrize("name", ["m #1", "pct%41", "what?x", "plain"])
def test_a_run_folder_whose_name_holds_uri_characters_is_read(tmp_path: Path, name: str) -> None:
    """status/export/report open state.db read-only through an SQLite URI; a folder named `m #1` opened the file
    `m ` read-write beside it (an empty stray file, then "no such table: meta"), `pct%41` another file."""
    from tao_automl.status import query_status

    folder = tmp_path / name / "run_1"
    folder.mkdir(parents=True)
    store = RunStore(folder)
    store.set_meta({"metric": "val_loss", "direction": "minimize", "experiment_id": "x", "mode": "runner",
                    "state": "finished"})
    store.add_rec(1, {"lr": 0.1}, {}, "job-1")
    store.finish_rec(1, "success", 0.5, None)
    store.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    status = query_status(folder)
    assert "error" not in status and status["best"]["metric_value"] == 0.5, status
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no stray file beside it


def test_a_workspace_given_as_a_run_folder_says_how_many_runs_it_holds_when_it_lists_only_the_newest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`resume WORKSPACE` said "it holds these runs: <5 names>" of a workspace holding 7: the message named 5 as if
    they were all; it now says how many there are and which it lists."""
    from tao_automl.cli.main import main

    workspace = tmp_path / "ws"
    names = [f"run_20260101_00000{i}_abcdef" for i in range(7)]
    for name in names:
        (workspace / name).mkdir(parents=True)
        RunStore(workspace / name).close()
    assert main(["resume", str(workspace), "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "workspace" and "it holds 7 runs" in error["message"], error["message"]
    assert names[0] not in error["message"] and all(name in error["message"] for name in names[-5:])
    assert f"tao-automl runs {workspace}" in error["message"]
    few = tmp_path / "few"
    (few / names[0]).mkdir(parents=True)
    RunStore(few / names[0]).close()
    with pytest.raises(WorkspaceError, match=f"it holds this run: {names[0]} "):
        existing_run_dir(few)
