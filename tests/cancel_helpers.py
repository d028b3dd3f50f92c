"""What the platforms' cancel tests share."""

from __future__ import annotations

from typing import Any

import pytest

from tao_automl.platforms.base import JobStatus


def stale_first_refresh(sdk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cancel's own first look at the job answers RUNNING (as it was a moment before), so the job's end by
    itself falls between that look and the platform's stop: the window a stopping rule's cancel can hit (the
    platform may or may not know the exit yet)."""
    real, calls = sdk._refresh, []

    def refresh(rec: dict[str, Any]) -> JobStatus:
        calls.append(1)
        return JobStatus.RUNNING if len(calls) == 1 else real(rec)
    monkeypatch.setattr(sdk, "_refresh", refresh)
