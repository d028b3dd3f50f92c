"""Which algorithms read the brain-specific settings, so a setting the chosen algorithm ignores is never silent.

``automl_settings: {algorithm: random, automl_population_size: 8}`` is valid but does nothing: the run says so
once (a plan note, shown by ``preflight`` and logged when the run starts) instead of ignoring it quietly.
"""

from __future__ import annotations

from collections.abc import Iterable

LLM = ("llm", "hybrid", "autoresearch")
BRACKETS = ("asha", "hyperband", "hyperband_es", "bohb", "dehb", "bfbo")
MULTI_FIDELITY = (*BRACKETS, "pbt")

#: setting -> the algorithms that read it (settings every algorithm reads are not listed).
READ_BY: dict[str, tuple[str, ...]] = {
    "automl_max_epochs": MULTI_FIDELITY,
    "automl_reduction_factor": BRACKETS,
    "fidelity_mode": tuple(a for a in MULTI_FIDELITY if a != "hyperband_es"),
    "automl_population_size": ("pbt",),
    "auto_multifidelity": ("auto",),
    "research_program": LLM,
    "llm_endpoint": LLM,
    "llm_model": LLM,
    "llm_api_key": LLM,
    "llm_fallback": LLM,
    "llm_timeout_s": LLM,
    "llm_max_retries": LLM,
    # hybrid's phases are run by classical brains: no analyzer reads their results
    "llm_analyzer_enabled": ("llm", "autoresearch"),
    "llm_analyzer_interval": ("llm", "autoresearch"),
    "llm_analyzer_narrow_ranges": ("llm", "autoresearch"),
}


def unused_settings(given: Iterable[str], algorithm: str, picked: str | None = None) -> list[str]:
    """One note per setting in ``given`` (the keys the user wrote) that ``algorithm`` does not read; for ``auto``,
    ``picked`` is the algorithm it chose, and a setting either of them reads counts as used."""
    using = {algorithm} if picked is None else {algorithm, picked}
    shown = repr(algorithm) if picked is None else f"{algorithm!r} (it picked {picked!r})"
    notes = []
    for key in sorted(set(given)):
        readers = READ_BY.get(key)
        if readers is not None and not using.intersection(readers):
            notes.append(f"automl_settings.{key} has no effect with algorithm {shown} (read only by "
                         f"{', '.join(readers)})")
    return notes
