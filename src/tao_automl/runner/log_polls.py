"""The metric extractor's log polls, run off the sweep loop's thread: a slow extractor (or a slow log fetch: a remote
call on Kubernetes, Slurm over ssh, Lepton) holds up no status poll of any rec. The loop starts one poll per running
job when it is due and takes its answer at a later poll; what the answer holds is stored by the loop's own thread.
The extractor's call on an ended job's log is such a poll too, its answer waited for up to a time limit."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tao_automl.metrics.job import polled_number


@dataclass
class PollAnswer:
    """What one log poll read: the extractor's number per metric (None: no answer or not a number), what it
    returned or raised per metric as it came (``answers``: an ended job's read judges it), and the first exception it
    raised, if any (the calls for the other metrics went on)."""
    numbers: dict[str, float | None] = field(default_factory=dict)
    answers: dict[str, object] = field(default_factory=dict)
    raised: Exception | None = None


class LogPoll:
    """One log poll of one running job, on a daemon thread of its own (an extractor that never returns holds up
    neither the sweep nor the program's exit): ``fetch()`` reads the log, then ``extractor(log, name)`` runs for each
    of ``names``."""

    def __init__(self, fetch: Callable[[], str], extractor: Callable[[str, str], object], names: Sequence[str],
                 thread_name: str) -> None:
        self._fetch, self._extractor, self._names = fetch, extractor, list(names)
        self._answer: PollAnswer | None = None
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        answer = PollAnswer()
        try:
            logs = self._fetch()
            for name in self._names:
                try:
                    answer.answers[name] = self._extractor(logs, name)
                    answer.numbers[name] = polled_number(answer.answers[name])
                except Exception as exc:  # told by the loop, once per rec; the other metrics are still read
                    answer.answers[name] = exc
                    answer.raised = answer.raised or exc
        except Exception as exc:  # the fetch itself (safe_logs answers "" on a platform error, so hardly ever)
            answer.raised = answer.raised or exc
            answer.answers = {name: exc for name in self._names}
        self._answer = answer

    def take(self, wait_s: float = 0.0) -> PollAnswer | None:
        """The poll's answer, waiting up to ``wait_s`` seconds for it; None while it still runs."""
        self._thread.join(max(0.0, wait_s))
        return None if self._thread.is_alive() else self._answer or PollAnswer()
