"""The one line a failed rec's message quotes from its log: the line that says why, not the one after it."""

from __future__ import annotations

from tao_automl.platforms.analysis import failure_from_log, reason_line


def test_a_refused_option_is_the_reason_not_the_help_hint_after_it() -> None:
    """Slurm with use_pyxis on a cluster without pyxis: the rec said `Try "srun --help" for more information.`, the
    line after the cause."""
    log = ("starting\nsrun: unrecognized option '--container-image=nvcr.io/nvidia/tao:5'\n"
           'Try "srun --help" for more information.\n')
    assert reason_line(failure_from_log(log)) == "srun: unrecognized option '--container-image=nvcr.io/nvidia/tao:5'"


def test_the_last_error_line_wins_and_a_log_without_one_gives_its_last_line() -> None:
    log = "epoch 1\nValueError: bad shape\nepoch 2\nRuntimeError: CUDA out of memory\ncleaning up\n"
    assert reason_line(failure_from_log(log)) == "RuntimeError: CUDA out of memory"
    assert reason_line(failure_from_log("loading\nboom: cannot open dataset\n")) == "boom: cannot open dataset"
    assert reason_line(failure_from_log("")) is None


def test_terminal_escapes_and_control_characters_stay_out_of_the_reason() -> None:
    """A trainer that colours its log: the failure message that `status` prints and `--json` carries held the raw
    escape sequences (``\x1b[31m``), a window title and other control characters."""
    log = "epoch 1\n\x1b[31mRuntimeError: CUDA \x1b[1mout of memory\x1b[0m\x07\x01\n\x1b]0;train\x07done\tok\n"
    found = failure_from_log(log)
    assert found == ["RuntimeError: CUDA out of memory", "epoch 1", "done\tok"], found
    assert reason_line(found) == "RuntimeError: CUDA out of memory"
