"""`status`'s newest recs without a rank are the ones that ended last, not the ones with the highest ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from store_helpers import runner_store
from tao_automl.cli.main import main
from tao_automl.status import query_status


def _run(folder: Path) -> Path:
    """Rec 1 succeeded; recs 2..9 failed in id order, except rec 3, which timed out after all of them;
    rec 10 is still running."""
    store = runner_store(folder, "finished", recs=10)
    store.finish_rec(1, "success", 0.5, None, finished_at=1000.0)
    for rec_id in range(2, 10):
        ended = 5000.0 if rec_id == 3 else 1000.0 + rec_id
        store.finish_rec(rec_id, "failure", None, f"rec {rec_id} failed", finished_at=ended)
    store.set_status(10, "running")
    store.close()
    return folder


def test_the_newest_failures_are_the_last_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rec 3 timed out after recs 4..9 failed; `status --top 3` showed recs 8, 9 and the running 10 as the newest,
    leaving out the failure that ended last."""
    folder = _run(tmp_path / "run")
    status = query_status(folder, top=3)
    unranked = [r["rec_id"] for r in status["recommendations"] if r.get("rank") is None]
    assert unranked == [3, 9, 10], unranked  # in flight, then the last two to end; shown in id order
    assert main(["status", str(folder), "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "rec 3 failed" in text and "rec 8 failed" not in text, text


def test_the_agent_texts_say_the_order_the_newest_are_shown_in(tmp_path: Path) -> None:
    """README and query_status said the newest recs without a rank are shown in id order, as they are; the skill
    file and the sweep_status tool said "in flight, then the last to end", beside "best first" for the best: an
    agent read that as their order (rec 10 running, then rec 3, then rec 9)."""
    from tao_automl.agentapi.tools import TOOLS, sweep_status
    from tao_automl.cli.agent_commands import skill_path

    status = sweep_status(str(_run(tmp_path / "run")), top=3)
    assert [r["rec_id"] for r in status["recommendations"] if r.get("rank") is None] == [3, 9, 10]
    skill = " ".join(skill_path().read_text().split())
    for text in (skill, TOOLS["sweep_status"].description):
        assert "newest unranked recs (in flight and the last to end, in id order)" in text \
            or "newest without a rank (in flight and the last to end, in id order" in text
