"""What LLM brains report, persisted in the run's store (events + two meta keys ``status`` reads).

A brain with a ``drain_records()`` method returns dicts ``{"kind", "index", **payload}``; ``index``
is the position of the config in the last ``suggest`` answer (``None``: not tied to one rec; for a record made in
``observe``, 0 is the rec observed).
Kinds: ``llm_call`` (token usage), ``llm_proposal`` (reasoning, repairs, re-asks),
``llm_fallback`` (policy and reason), ``llm_plan``/``research_phase``/``llm_analysis``/
``autoresearch_verdict``, ``llm_failure`` (the run stopped: ``llm_fallback: error``). Fallback counts go to meta
``llm_fallbacks``; reasoning to meta ``llm_reasoning`` (rec id -> text; a proposal tao-automl repaired or re-drew
says what it changed) so summaries need nothing but the meta. A brain whose state is more than its results (hybrid:
its plan and the phase it is in) reads its own records back when its run is reopened: ``restore_records`` gets the
journal's events of the kinds its ``RESTORED_KINDS`` names, before the results are replayed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tao_automl.experiment.store import RunStore

log = logging.getLogger(__name__)


def drain(brain: object) -> list[dict[str, Any]]:
    """The brain's pending records (empty for brains that keep none)."""
    method = getattr(brain, "drain_records", None)
    return list(method()) if callable(method) else []


def persist(store: RunStore, records: Sequence[dict[str, Any]], rec_ids: Sequence[int]) -> None:
    """Log each record as an event tied to its rec; update the fallback count and reasoning map."""
    if not records:
        return
    meta = store.meta()
    fallbacks = int(meta.get("llm_fallbacks", 0))
    reasoning: dict[str, str] = dict(meta.get("llm_reasoning") or {})
    for record in records:
        payload = {k: v for k, v in record.items() if k not in ("kind", "index")}
        index = record.get("index")
        rec_id = rec_ids[index] if isinstance(index, int) and 0 <= index < len(rec_ids) else None
        kind = str(record["kind"])
        store.log_event(kind, rec_id, **payload)
        if kind == "llm_fallback":
            fallbacks += 1
        if rec_id is not None and (payload.get("reasoning") or payload.get("repairs")):
            said = str(payload.get("reasoning") or "(the LLM gave no reason)")
            repairs = [str(r) for r in payload.get("repairs") or []]
            if repairs:  # the rec is not what the LLM proposed: its reason is shown with what was changed
                said += f" [changed by tao-automl: {'; '.join(repairs)}]"
            reasoning[str(rec_id)] = said
    store.set_meta({"llm_fallbacks": fallbacks, "llm_reasoning": reasoning})
