"""Ctrl-C / `tao-automl stop` held back while a tracker writes (a half-created MLflow store refused later runs)."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path
from typing import Any

import pytest

from signal_scripts import lost_in_a_library
from tao_automl.tracking.base import ObserverSet
from tao_automl.util.interrupts import interrupts_held


@pytest.fixture(autouse=True)
def _ctrl_c_as_python_sets_it() -> Any:
    """Ctrl-C handled as a program started from a terminal has it: a shell that starts pytest in the background
    (`cmd &`) hands it SIGINT ignored, and Python then leaves it ignored."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_a_signal_during_the_block_is_delivered_when_it_ends() -> None:
    got: list[tuple[int, bool]] = []
    inside = [False]
    before = signal.signal(signal.SIGTERM, lambda signum, frame: got.append((signum, inside[0])))
    try:
        with interrupts_held():
            inside[0] = True
            os.kill(os.getpid(), signal.SIGTERM)
            assert got == []  # held
            inside[0] = False
        assert got == [(signal.SIGTERM, False)]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers are back
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_second_signal_interrupts_a_block_that_hangs() -> None:
    with pytest.raises(KeyboardInterrupt), interrupts_held():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        raise AssertionError("not interrupted")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_tracker_call_finishes_before_ctrl_c_ends_the_sweep(tmp_path: Path) -> None:
    written: list[str] = []

    class SlowTracker:
        def sweep_started(self, run_dir: Path) -> Any:
            os.kill(os.getpid(), signal.SIGINT)  # `stop` arrives mid-way through the tracker's setup
            written.append("tables")
            written.append("stamp")

    with pytest.raises(KeyboardInterrupt):
        ObserverSet([SlowTracker()]).sweep_started(tmp_path)
    assert written == ["tables", "stamp"]


def test_a_signal_the_process_ignores_stays_ignored_in_the_block() -> None:
    """A program started in the background has SIGINT ignored: the block did not keep it so (it caught SIGINT while
    it ran); it now leaves an ignored signal alone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with interrupts_held():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGINT)  # ignored, as outside the block
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_ctrl_c_just_after_the_run_folder_is_made_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C (or `stop`) landing once `tao-automl run` had made its run folder, before the sweep's loop began: it
    said "interrupted before the sweep started; no run folder was reported" although the folder existed and
    resumes. The runner knows its folder as soon as it is made, so the line names it."""
    import signal as signals

    from tao_automl.cli.main import main
    from tao_automl.runner import loop

    def interrupted(run_dir: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "claim_info", interrupted)
    config = _sweep_config(tmp_path, {"metric": "val_loss", "automl_max_recommendations": 2})
    before = signals.getsignal(signals.SIGTERM)
    try:
        assert main(["run", str(config)]) == 130
    finally:
        signals.signal(signals.SIGTERM, before)
    run_dir = next((tmp_path / "ws").glob("run_*"))
    err = capsys.readouterr().err
    assert f"interrupted: jobs keep running; continue with `tao-automl resume {run_dir}`" in err, err
    from tao_automl import query_status

    assert query_status(run_dir)["progress"]["state"] == "interrupted"  # a run that resumes, as the line says


def test_a_hangup_is_held_in_the_block_as_ctrl_c_is() -> None:
    """SIGHUP (the terminal of a foreground `tao-automl run` closed, an ssh session dropped) cut a tracker's write in
    half, as Ctrl-C did before the block held it; it is held the same way."""
    got: list[int] = []
    before = signal.signal(signal.SIGHUP, lambda signum, frame: got.append(signum))
    try:
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGHUP)
            assert got == []  # held
        assert got == [signal.SIGHUP]
    finally:
        signal.signal(signal.SIGHUP, before)


def test_a_hangup_ends_a_foreground_run_as_stop_does(tmp_path: Path) -> None:
    """`tao-automl run` in a terminal that was closed (SIGHUP) died at once, like kill -9: the run stayed "running"
    in its store, its status snapshot said an orchestrator was alive and trackers were never told it ended. It now
    ends as on `tao-automl stop` (exit 130, the run closed as interrupted, jobs left running for `resume`); under
    `nohup` (SIGHUP ignored) it runs on."""
    import fcntl
    import subprocess
    import sys
    import termios
    import time

    from tao_automl.experiment.store import read_meta

    config = _sweep_config(tmp_path, {
        "metric": "val_loss", "automl_max_recommendations": 2, "automl_max_concurrent": 1, "poll_interval_s": 0.2})
    env = {**os.environ, "TRAINER_SLEEP": "5"}

    master, slave = os.openpty()  # a terminal that closes: the kernel sends SIGHUP, and writes to it fail (EIO)

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([sys.executable, "-m", "tao_automl.cli.main", "run", str(config)], env=env, stdin=slave,
                            stdout=slave, stderr=slave, preexec_fn=own_terminal)
    os.close(slave)
    shown, deadline = b"", time.monotonic() + 120
    while b"started  job" not in shown:
        assert time.monotonic() < deadline, shown
        shown += os.read(master, 4096)
    os.close(master)
    assert proc.wait(timeout=60) == 130  # not 1: its last lines, written to the closed terminal, go nowhere
    run_dir = next((tmp_path / "ws").glob("run_*"))
    assert read_meta(run_dir)["state"] == "interrupted"
    nohup = subprocess.Popen([sys.executable, "-m", "tao_automl.cli.main", "run", str(config)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        while "started  job" not in (line := nohup.stderr.readline() if nohup.stderr else ""):
            assert line and time.monotonic() < deadline, "no job started"
        nohup.send_signal(signal.SIGHUP)
        time.sleep(2)
        assert nohup.poll() is None  # runs on
    finally:
        nohup.terminate()
        nohup.communicate(timeout=60)


SOBOL_INTERRUPTED = """
import os, signal, sys
import numpy as np
signal.signal(signal.SIGINT, signal.default_int_handler)
real = np.lib.npyio.NpzFile.__getitem__
def interrupted(self, key):  # Ctrl-C (or stop's SIGTERM) lands while SciPy reads its Sobol direction numbers
    np.lib.npyio.NpzFile.__getitem__ = real
    os.kill(os.getpid(), signal.SIGINT)
    return real(self, key)
np.lib.npyio.NpzFile.__getitem__ = interrupted
from tao_automl.brain.classic.bayesian import BayesianBrain
from tao_automl.space.search_space import FloatParam, SearchSpace
brain = BayesianBrain(SearchSpace((FloatParam("lr", 1e-4, 1.0, log=True), FloatParam("m", 0.0, 1.0))))
try:
    brain.suggest(1, [], np.random.default_rng(0))
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_an_interrupt_while_scipy_loads_its_sobol_tables_is_not_lost() -> None:
    """`tao-automl stop` (or Ctrl-C) at a run's start, while the Bayesian brain's first Sobol design made SciPy read
    its direction numbers: SciPy's loader swallows exceptions ("Exception ignored in: _initialize_v"), so the stop
    was lost (and stop's SIGTERM then ignored: the sweep ran to its end while `stop` waited) and the half-read
    tables gave that process other Sobol points. The signal is now held until the sampler is built."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", SOBOL_INTERRUPTED], capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert "Exception ignored" not in done.stderr


def _sweep_config(tmp_path: Path, settings: dict[str, Any]) -> Path:
    """A `tao-automl run` config of the test skill on the local platform with ``settings`` (its automl_settings),
    under ``tmp_path``."""
    import yaml

    from conftest import write_skill

    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({
        "skill_dir": str(write_skill(tmp_path / "bank")), "workspace_path": str(tmp_path / "ws"),
        "automl_settings": settings,
        "platform_options": {"jobs_dir": str(tmp_path / "jobs")}, "platform_kwargs": {"gpu_count": 0}}))
    return config


def _one_rec_sweep(tmp_path: Path) -> Path:
    """A `tao-automl run` config of one rec of the test skill on the local platform, under ``tmp_path``."""
    return _sweep_config(tmp_path, {"metric": "val_loss", "automl_max_recommendations": 1, "poll_interval_s": 0.05})


@pytest.mark.parametrize("stopped", [False, True])
def test_a_run_called_in_process_gives_the_signal_handlers_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                stopped: bool) -> None:
    """`main(["run", ...])` set its stop handlers for SIGTERM and SIGHUP (and, after a stop, SIGTERM ignored) and left
    them set once it returned: a program calling it in-process (a test, an agent's host) lost its own handlers, and
    a later `kill` of that program raised KeyboardInterrupt wherever it was. They are back when main returns, also
    after a run that a stop ended."""
    from tao_automl.cli.main import main
    from tao_automl.runner import loop

    if stopped:
        real = loop.claim_info

        def stop_arrives(run_dir: Path) -> Any:  # `tao-automl stop` as the sweep's loop begins
            os.kill(os.getpid(), signal.SIGTERM)
            return real(run_dir)

        monkeypatch.setattr(loop, "claim_info", stop_arrives)
    config = _one_rec_sweep(tmp_path)

    def own(signum: int, frame: Any) -> None:  # the calling program's handler
        raise AssertionError("not expected to run")

    before = {sig: signal.signal(sig, handler)
              for sig, handler in ((signal.SIGTERM, own), (signal.SIGHUP, signal.SIG_DFL))}
    try:
        assert main(["run", str(config)]) == (130 if stopped else 0)
        assert signal.getsignal(signal.SIGTERM) is own
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_a_ctrl_c_before_the_sweep_began_does_not_stop_the_next_run_in_the_same_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's Ctrl-C is a recorded stop request (so a library cannot drop it); one that ended `run` while it still
    read its settings, before the sweep began, stays over once that command returned: a program calling main() again
    runs its next sweep to the end, not interrupted at its loop's first turn."""
    from tao_automl.cli.main import main
    from tao_automl.runner import plan

    real = plan.load_settings

    def ctrl_c_while_reading(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(plan, "load_settings", real)
        signal.raise_signal(signal.SIGINT)
        raise AssertionError("not interrupted")

    monkeypatch.setattr(plan, "load_settings", ctrl_c_while_reading)
    config = _one_rec_sweep(tmp_path)
    assert main(["run", str(config)]) == 130
    assert not (tmp_path / "ws").exists() or not list((tmp_path / "ws").glob("run_*"))
    assert main(["run", str(config)]) == 0


def test_a_command_called_from_another_thread_leaves_the_runs_stop_request_pending(tmp_path: Path) -> None:
    """A foreground run's Ctrl-C that a library dropped is pending until the sweep's loop raises it again; main()
    cleared it when any command ended, in any thread, so a `status` that a program ran from a second thread meanwhile
    let the run go on to its end. Only a run or resume in the main thread (the one whose handlers record stops) ends
    the requests it made."""
    import threading

    from tao_automl.cli.main import main
    from tao_automl.util.interrupts import raise_pending_stop, stop_delivered, stop_requested

    try:
        with pytest.raises(KeyboardInterrupt):
            stop_requested()  # the run's Ctrl-C, its interrupt then dropped inside a library
        codes: list[int] = []
        other = threading.Thread(target=lambda: codes.append(main(["status", str(tmp_path / "no-such-run")])))
        other.start()
        other.join()
        assert codes == [2]
        with pytest.raises(KeyboardInterrupt):
            raise_pending_stop()
    finally:
        stop_delivered()


def test_a_stop_signal_as_a_run_returns_goes_to_the_callers_handler_and_leaves_no_request(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """main() cleared the run's stop requests, then gave the signal handlers back: a SIGTERM landing between the two
    reached the run's handler, which raised KeyboardInterrupt out of main() (a traceback instead of its exit code) and
    left a request pending that interrupted the next sweep the program ran at its loop's first turn. The handlers are
    given back first: such a signal reaches the caller's own."""
    import tao_automl.util.interrupts as interrupts
    from tao_automl.cli.main import main

    real = interrupts.stop_delivered

    def then_a_sigterm() -> None:
        real()
        signal.raise_signal(signal.SIGTERM)

    got: list[int] = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
    try:
        monkeypatch.setattr(interrupts, "stop_delivered", then_a_sigterm)
        try:
            code = main(["run", str(tmp_path / "no-such-sweep.yaml")])
        except KeyboardInterrupt:
            pytest.fail("the SIGTERM reached the run's handler after main() had ended its stop requests")
        assert code == 2 and got == [signal.SIGTERM]
        interrupts.raise_pending_stop()  # nothing pending
    finally:
        signal.signal(signal.SIGTERM, before)
        real()


SWALLOWED_CTRL_C_IN_PYTHON = """
import signal, sys
from tao_automl.bank import builtin_skill_dir
from tao_automl.platforms.local import LocalSDK
from tao_automl.runner import AutoMLRunner
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a background start ignores it)
if sys.argv[2] == "own":  # the host program's own Ctrl-C handler: never replaced
    def own(signum, frame):
        print("own handler ran", flush=True)
    signal.signal(signal.SIGINT, own)
before = signal.getsignal(signal.SIGINT)
""" + lost_in_a_library("SIGINT", "Ctrl-C", once=True) + """
runner = AutoMLRunner(LocalSDK(jobs_dir=sys.argv[1] + "/jobs"), builtin_skill_dir("demo-digits-mlp"))
try:
    runner.run(train_dataset_uri="builtin:digits", workspace_path=sys.argv[1] + "/runs", gpu_count=0,
               spec_overrides={"train.num_epochs": 1},
               automl_settings={"algorithm": "random", "metric": "val_accuracy", "automl_max_recommendations": 2,
                                "automl_max_concurrent": 1, "poll_interval_s": 0.3})
    code = 0
except KeyboardInterrupt:
    code = 130
print("handler back:", signal.getsignal(signal.SIGINT) is before, flush=True)
sys.exit(code)
"""


@pytest.mark.parametrize("host", ["default", "own"])
def test_a_ctrl_c_a_library_swallows_still_stops_a_run_called_from_python(tmp_path: Path, host: str) -> None:
    """`AutoMLRunner.run` from Python: a Ctrl-C landing in a library that drops its KeyboardInterrupt (numpy.random's
    first import) was lost, and the run went on to report success; the CLI records Ctrl-C as a stop request the
    sweep's loop raises again, the API did not. While run() goes (main thread, Python's default SIGINT handler in
    place) Ctrl-C is a recorded stop request too, and the default handler is back after; a handler the host program
    set is left alone (it is the one that runs, and the run goes on)."""
    import subprocess
    import sys

    from agent_helpers import cli_env
    from tao_automl.experiment.store import read_meta

    done = subprocess.run([sys.executable, "-c", SWALLOWED_CTRL_C_IN_PYTHON, str(tmp_path), host],
                          capture_output=True, text=True, env=cli_env(), timeout=180, check=False)
    assert "handler back: True" in done.stdout, done.stdout + done.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").glob("run_*")
    state = read_meta(run_dir)["state"]
    if host == "own":
        assert done.returncode == 0 and "own handler ran" in done.stdout and state == "finished", done.stdout
    else:
        assert done.returncode == 130 and state == "interrupted", done.stdout + done.stderr[-3000:]


def test_a_ctrl_c_for_the_main_threads_sweep_neither_ends_a_sweep_in_another_thread_nor_is_lost(
        tmp_path: Path) -> None:
    """The recorded stop request is the process's, and only the main thread gets a Ctrl-C: a sweep running in a
    worker thread while the main thread's run() had a Ctrl-C dropped inside a library took the request at its
    loop's next turn (its sweep ended interrupted, its KeyboardInterrupt raised in that thread) and cleared it, so
    the main thread's sweep, whose Ctrl-C it was, never raised it again. Only the main thread takes or clears it now."""
    import contextlib
    import threading

    from tao_automl.bank import builtin_skill_dir
    from tao_automl.experiment.store import read_meta
    from tao_automl.platforms.local import LocalSDK
    from tao_automl.runner import AutoMLRunner
    from tao_automl.util.interrupts import raise_pending_stop, records_ctrl_c

    ended: list[BaseException | str] = []

    def other_sweep() -> None:
        runner = AutoMLRunner(LocalSDK(jobs_dir=str(tmp_path / "jobs")), builtin_skill_dir("demo-digits-mlp"))
        try:
            runner.run(train_dataset_uri="builtin:digits", workspace_path=str(tmp_path / "runs"), gpu_count=0,
                       spec_overrides={"train.num_epochs": 1},
                       automl_settings={"algorithm": "random", "metric": "val_accuracy",
                                        "automl_max_recommendations": 1, "poll_interval_s": 0.2})
            ended.append("returned")
        except BaseException as exc:  # what ended the thread's sweep is the finding
            ended.append(exc)

    @records_ctrl_c
    def main_sweep() -> None:  # its Ctrl-C lands in a library that drops it, while another thread sweeps
        with contextlib.suppress(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        worker = threading.Thread(target=other_sweep)
        worker.start()
        worker.join(timeout=170)
        raise_pending_stop()  # the main sweep's loop: its own Ctrl-C raised again

    raised = False
    try:
        main_sweep()
    except KeyboardInterrupt:
        raised = True
    assert ended == ["returned"], ended
    assert raised
    (run_dir,) = (tmp_path / "runs").glob("run_*")
    assert read_meta(run_dir)["state"] == "finished"


def test_a_second_ctrl_c_just_after_a_run_said_interrupted_still_exits_130(tmp_path: Path) -> None:
    """A foreground `run --json` stopped by Ctrl-C stores its state, prints its JSON and "interrupted: jobs keep
    running", then exits 130 (README's code for Ctrl-C). A second Ctrl-C right after those words (an impatient user,
    a wrapper that signals twice) reached Python's own KeyboardInterrupt once the run's handlers were given back: the
    process died of SIGINT (exit -2, a traceback), or said "interrupted before the command started". Here Ctrl-C is
    sent again every 5 ms from the moment the words appear until the process has ended: it exits 130, with its JSON
    whole and nothing more said."""
    import json
    import subprocess
    import sys
    import time



    config = _sweep_config(tmp_path, {
        "metric": "val_loss", "automl_max_recommendations": 2, "automl_max_concurrent": 1, "poll_interval_s": 0.2})
    for attempt in range(3):  # the window is short: the last Ctrl-C can land anywhere in it
        proc = subprocess.Popen([sys.executable, "-m", "tao_automl.cli.main", "run", str(config), "--json"],
                                env={**os.environ, "TRAINER_SLEEP": "30"}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        assert proc.stderr is not None and proc.stdout is not None
        said: list[str] = []
        deadline = time.monotonic() + 120
        while "started  job" not in (line := proc.stderr.readline()):
            said.append(line)
            assert line and time.monotonic() < deadline, said
        proc.send_signal(signal.SIGINT)
        while not (line := proc.stderr.readline()).startswith("interrupted"):
            said.append(line)
            assert line and time.monotonic() < deadline, said
        while proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            time.sleep(0.005)
        rest = proc.stderr.read()
        out = proc.stdout.read()
        assert proc.returncode == 130, (attempt, proc.returncode, rest)
        assert "Traceback" not in rest and "before the command started" not in rest, rest
        assert json.loads(out)["error"]["kind"] == "interrupted", out


def test_ctrl_c_while_the_program_loads_exits_130_with_its_json_whatever_follows(tmp_path: Path) -> None:
    """Ctrl-C pressed again and again from the moment `tao-automl run --json` is launched: the first one may land
    before the run's handlers are in place (the program still loading), where it said only "interrupted before the
    command started", with no JSON though `--json` promises one, and left Ctrl-C to Python, whose default action at
    shutdown killed the process by SIGINT at the next press (exit -2; chaos: 1 in 14 launches). It now exits 130 with
    the JSON error of kind `interrupted`, whichever point of the program the first Ctrl-C met."""
    import json
    import subprocess
    import sys
    import time



    config = _sweep_config(tmp_path, {"metric": "val_loss", "automl_max_recommendations": 1, "poll_interval_s": 0.2})
    program = ("import sys\nfrom tao_automl.cli import main\nsys.argv = ['tao-automl', *sys.argv[1:]]\n"
               "parser = main.build_parser\n"  # the Ctrl-Cs start as the program reads its command line
               "def build_parser(argv=None):\n    print('loaded', file=sys.stderr, flush=True)\n"
               "    main.build_parser = parser\n    return parser(argv)\n"
               "main.build_parser = build_parser\nmain.entry()\n")
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", program, "run", str(config), "--json"],
                                env={**os.environ, "TRAINER_SLEEP": "30"}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        assert proc.stderr is not None and proc.stdout is not None
        assert proc.stderr.readline() == "loaded\n"
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            proc.send_signal(signal.SIGINT)
            time.sleep(0.005)
        rest, out = proc.stderr.read(), proc.stdout.read()
        assert proc.returncode == 130, (attempt, proc.returncode, rest)
        assert "Traceback" not in rest, rest
        assert json.loads(out)["error"]["kind"] == "interrupted", (out, rest)


def test_a_ctrl_c_a_library_dropped_still_ends_the_program_with_130(tmp_path: Path) -> None:
    """A Ctrl-C that meets a C library running Python code through the C API (Cython's start-up code of numpy and
    scipy modules: PyRun_String) is dropped by it; the sweep raises it again at its next turn (a recorded stop
    request) and the run ends interrupted, its JSON written, exit 130. But CPython had noted that Ctrl-C as one no
    code handled, and at its very end killed itself by SIGINT (exit -2; chaos: 1 launch in 68 given 3 quick Ctrl-Cs
    1.5-3 s in, strace showing its own kill(SIGINT) after the report). Here the drop is made as such a library makes
    it, with a real SIGINT, as the sweep's first round of polls ends: the program exits 130 with its JSON."""
    import json
    import subprocess
    import sys



    config = _sweep_config(tmp_path, {"metric": "val_loss", "automl_max_recommendations": 2, "poll_interval_s": 0.2})
    program = textwrap.dedent("""
        import ctypes, sys
        from tao_automl.cli.main import entry
        from tao_automl.runner import loop

        settle, dropped = loop.AutoMLRunner._settle_log_polls, []

        def settle_after_a_dropped_ctrl_c(self, exp):
            if not dropped:  # a library's code run by the C API meets Ctrl-C, and drops what it raised
                dropped.append(True)
                api = ctypes.pythonapi
                api.PyRun_String.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.py_object, ctypes.py_object]
                api.PyRun_String.restype = ctypes.c_void_p
                try:
                    api.PyRun_String(b"import os, signal\\nos.kill(os.getpid(), signal.SIGINT)\\n", 257, {}, {})
                except KeyboardInterrupt:
                    pass
            return settle(self, exp)

        loop.AutoMLRunner._settle_log_polls = settle_after_a_dropped_ctrl_c
        sys.argv = ["tao-automl", *sys.argv[1:]]
        entry()
        """)
    # run as `python -m` runs the program (`python -m tao_automl.cli.main`): CPython's own exit then reads that note
    (tmp_path / "dropping_program.py").write_text(program)
    path = os.pathsep.join([str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])
    done = subprocess.run([sys.executable, "-m", "dropping_program", "run", str(config), "--json"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TRAINER_SLEEP": "30", "PYTHONPATH": path},
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert done.returncode == 130, (done.returncode, done.stderr[-2000:])
    assert json.loads(done.stdout)["error"]["kind"] == "interrupted", done.stdout


def test_a_second_ctrl_c_while_the_first_ones_handler_loads_its_module_still_exits_130(tmp_path: Path) -> None:
    """The Ctrl-C handler of a foreground run imported the module that records the stop request when it first ran;
    a second Ctrl-C a few ms after the first (chaos: 1 launch in 40 given 3 Ctrl-Cs 0-5 ms apart, 0.2-3 s in) met
    that module half loaded, as the run's own code was loading it, and failed with ImportError ("partially
    initialized module"): exit 1, an "internal" error and a traceback instead of 130. Here Ctrl-C is sent as that
    module starts loading: exit 130 with the interrupted JSON."""
    import json
    import subprocess
    import sys



    config = _sweep_config(tmp_path, {"metric": "val_loss", "automl_max_recommendations": 1, "poll_interval_s": 0.2})
    program = textwrap.dedent("""
        import importlib.abc, importlib.machinery, os, signal, sys
        from tao_automl.cli import main

        class CtrlCAsItLoads(importlib.abc.MetaPathFinder):  # Ctrl-C as the stop module starts loading
            def find_spec(self, name, path, target=None):
                if name != "tao_automl.util.interrupts":
                    return None
                sys.meta_path.remove(self)
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                load = spec.loader.exec_module

                def exec_module(module):
                    os.kill(os.getpid(), signal.SIGINT)
                    load(module)

                spec.loader.exec_module = exec_module
                return spec

        sys.meta_path.insert(0, CtrlCAsItLoads())
        sys.argv = ["tao-automl", *sys.argv[1:]]
        main.entry()
        """)
    done = subprocess.run([sys.executable, "-c", program, "run", str(config), "--json"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "TRAINER_SLEEP": "30"},
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert done.returncode == 130, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    assert json.loads(done.stdout)["error"]["kind"] == "interrupted", done.stdout
