"""Script text for tests that run a sweep in a child Python whose stop signal lands in a library that drops the
``KeyboardInterrupt`` it raises (numpy.random's first import: Cython's ``except: pass``)."""

from __future__ import annotations


def lost_in_a_library(signal_name: str, what: str, *, once: bool = False) -> str:
    """Lines that patch ``tao_automl.runner.plan.check_render`` so that a call first raises ``signal.<signal_name>``
    (``what``: the comment saying whose signal it is) inside a block that drops its ``KeyboardInterrupt``, then
    renders as usual; ``once``: the patch undoes itself at its first call. The lines import ``signal`` and ``plan``
    themselves and end without a newline."""
    undo = "    plan.check_render = real\n" if once else ""
    return ("import signal\n"
            "from tao_automl.runner import plan\n"
            "real = plan.check_render\n"
            "def lost_in_a_library(*args, **kwargs):\n"
            f"{undo}"
            "    try:\n"
            f"        signal.raise_signal(signal.{signal_name})  # {what}, "
            "handled inside code that drops its exception\n"
            "    except KeyboardInterrupt:\n"
            "        pass\n"
            "    return real(*args, **kwargs)\n"
            "plan.check_render = lost_in_a_library")
