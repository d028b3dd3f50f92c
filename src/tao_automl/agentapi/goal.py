"""Reading a ``plan`` goal sentence: what it says of the metric, its direction, the algorithm, the budget and how
many recs run at once, so what the user wrote wins over the LLM's answer (:func:`goal_repairs`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tao_automl.errors import SettingsError

_NUMBER_WORDS = {w: i for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"))} | {
    "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100}
_NUMBER_WORD = rf"(?:{'|'.join(_NUMBER_WORDS)})"
#: a number in words is every word of it: "twenty-five", "two hundred and fifty" (not just its last word)
_AT_ONCE = r"(?:at a time|at once|in parallel|concurrently|simultaneously)\b"
#: "2 trials at a time" says how many run at once (concurrency_said), not the budget
_BUDGET_SAID = re.compile(rf"\b(\d{{1,4}}|{_NUMBER_WORD}(?:[\s-]+(?:and[\s-]+)?{_NUMBER_WORD})*)\s+(?:trials?|recs?|"
                          rf"recommendations?|runs?|experiments?|configs?|configurations?|evaluations?)\b"
                          rf"(?!\s+{_AT_ONCE})", re.IGNORECASE)


def _words_number(said: str) -> int:
    """The number a phrase of number words says: "twenty-five" 25, "two hundred and fifty" 250, "hundred" 100."""
    count = 0
    for word in re.split(r"[\s-]+", said.lower()):
        if word == "hundred":
            count = max(count, 1) * 100
        elif word != "and":
            count += _NUMBER_WORDS[word]
    return count


def budget_said(goal: str) -> tuple[int, str] | None:
    """``(count, words)`` when the goal names how many trials to run ("for 4 trials", "20 runs", "twenty-five
    trials"); the first such phrase, or None."""
    found = _BUDGET_SAID.search(goal)
    if found is None:
        return None
    said = found.group(1)
    count = int(said) if said.isdigit() else _words_number(said)
    return (count, found.group(0)) if count >= 1 else None


_DIRECTION_WORD = r"(minimi[sz]e|maximi[sz]e|lower|raise|reduce|increase)"
_DIRECTION_OF = {"minimi": "minimize", "maximi": "maximize", "lower": "minimize", "reduce": "minimize",
                 "raise": "maximize", "increase": "maximize"}


def metric_said(goal: str, known: list[str]) -> tuple[str, str | None] | None:
    """``(metric, direction)`` when the goal names exactly one metric the model reports, as written (``val_loss``,
    ``Val/Loss``) or with spaces for its underscores (``val loss``); ``direction`` when a verb just before it says
    which way ("minimize val_loss", "lower the val loss"), else None. None when the goal names none of them, or
    several."""
    from tao_automl.metrics.parse import normalise_name

    found: dict[str, int] = {}  # metric -> where the goal first names it
    for metric in known:
        words = r"[\s_/.\-]+".join(re.escape(w) for w in normalise_name(metric).split("_") if w)
        hit = re.search(rf"(?<![\w/.\-]){words}(?![\w/])", goal, re.IGNORECASE) if words else None
        if hit is not None:
            found[metric] = hit.start()
    if len(found) != 1:
        return None
    metric, at = next(iter(found.items()))
    verb = re.search(_DIRECTION_WORD + r"\s+(?:the\s+|its\s+)?$", goal[:at], re.IGNORECASE)
    if verb is None:
        return metric, None
    word = verb.group(1).lower()
    return metric, next(d for w, d in _DIRECTION_OF.items() if word.startswith(w))


#: Words that name a metric when a direction verb comes before them ("maximize accuracy", "minimize loss").
_METRIC_WORDS = frozenset({"accuracy", "acc", "loss", "error", "f1", "precision", "recall", "auc", "map", "iou", "mae",
                           "mse", "rmse", "latency", "perplexity", "bleu", "psnr", "score", "reward", "wer", "cer"})


def metric_asked(goal: str) -> tuple[str, str] | None:
    """``(word, direction)`` for the metric-like word a direction verb is applied to ("maximize f1_score", "minimize
    loss"): a name with ``_``, a digit or ``@`` in it, or a common metric word; None otherwise."""
    found = re.search(_DIRECTION_WORD + r"\s+(?:the\s+|its\s+)?([A-Za-z][\w@./-]*)", goal, re.IGNORECASE)
    if found is None:
        return None
    word = found.group(2).rstrip(".,;:")
    if not (re.search(r"[_\d@]", word) or word.lower() in _METRIC_WORDS):
        return None
    verb = found.group(1).lower()
    return word, next(d for w, d in _DIRECTION_OF.items() if verb.startswith(w))


def metric_for_word(word: str, known: list[str]) -> list[str]:
    """The known metrics a word of the goal may mean: the one it names, else those it is a part of (``accuracy``:
    ``val_accuracy``; ``loss``: ``val_loss``, ``train_loss``)."""
    from tao_automl.metrics.parse import normalise_name

    wanted = normalise_name(word)
    exact = [k for k in known if normalise_name(k) == wanted]
    return exact or [k for k in known if wanted in normalise_name(k).split("_")]


#: How a sentence names an algorithm: its own name, or these phrases ("random" and "llm" alone say too little).
_ALGORITHM_PHRASES = {"random search": "random", "random sampling": "random", "bayesian optimi": "bayesian",
                      "llm algorithm": "llm", "llm-guided": "llm", "population based training": "pbt"}
_AMBIGUOUS_NAMES = frozenset({"random", "llm", "auto"})


def algorithm_said(goal: str) -> tuple[str, str] | None:
    """``(algorithm, words)`` when the goal names exactly one algorithm ("with tpe", "random search", "hyperband");
    None when it names none or several."""
    from tao_automl.brain.registry import ALGORITHMS

    found: dict[str, str] = {}
    for name in ALGORITHMS:
        if name not in _AMBIGUOUS_NAMES:
            hit = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", goal, re.IGNORECASE)
            if hit is not None:
                found.setdefault(name, hit.group(0))
    for phrase, name in _ALGORITHM_PHRASES.items():
        hit = re.search(rf"\b{re.escape(phrase)}\w*", goal, re.IGNORECASE)
        if hit is not None:
            found.setdefault(name, hit.group(0))
    return next(iter(found.items())) if len(found) == 1 else None


_CONCURRENCY_SAID = re.compile(rf"\b(\d{{1,3}})\s+(?:(?:jobs?|recs?|trials?|runs?)\s+)?{_AT_ONCE}", re.IGNORECASE)


def concurrency_said(goal: str) -> tuple[int, str] | None:
    """``(count, words)`` when the goal says how many recs run at once ("2 at a time", "run 4 in parallel")."""
    found = _CONCURRENCY_SAID.search(goal)
    return (int(found.group(1)), found.group(0)) if found is not None and int(found.group(1)) >= 1 else None


def _repair(settings: dict[str, Any], repairs: list[str], key: str, value: Any, why: str) -> None:
    """``settings[key] = value`` when it differs, listed as ``key old -> new: why``."""
    if settings.get(key) != value:
        repairs.append(f"{key} {settings.get(key)!r} -> {value!r}: {why}")
        settings[key] = value


def _metric_repairs(goal: str, settings: dict[str, Any], skill: Any, metrics: list[str],
                    repairs: list[str]) -> bool:
    """The metric and direction the goal names win over the LLM's (``settings``, changed in place); True when the
    goal itself says the direction (it then stands even against the metric's evident one: the run warns)."""
    from tao_automl.metrics.parse import normalise_name

    said = metric_said(goal, metrics)
    if said is not None:  # the sentence's metric wins
        wanted, way = said
        if isinstance(settings.get("metric"), str) and settings["metric"] != wanted:
            _repair(settings, repairs, "metric", wanted, f"the goal names {wanted!r}")
            if way is None and "direction" in settings:  # the LLM's direction was for the metric it chose
                repairs.append(f"direction {settings.pop('direction')!r} dropped: it was chosen for the LLM's metric")
        if way is not None and isinstance(settings.get("metric"), str):
            _repair(settings, repairs, "direction", way, f"the goal says to {way} {wanted}")
        return way is not None
    asked = metric_asked(goal)
    if asked is None:
        return False
    if not isinstance(settings.get("metric"), str):  # a list of metrics: the goal's verb still stands
        return True
    word, way = asked  # "maximize f1_score", "minimize loss"
    meant = metric_for_word(word, metrics)
    hint = "name one of the allowed metrics in the sentence, or pass --metric"
    because = f"the goal says to {way} {word!r}"
    if normalise_name(word) == normalise_name(settings["metric"]):
        pass  # the LLM took the user's metric
    elif not meant and re.search(r"[_\d@]", word):  # a metric's own name: the user's, as --metric (checked later)
        _repair(settings, repairs, "metric", word, because)
    elif not meant and metrics:
        raise SettingsError(f"the goal asks to {way} {word!r}, which {skill.name} does not report; allowed: "
                            f"{', '.join(metrics)}", field="goal", value=word, allowed=metrics, hint=hint)
    elif len(meant) == 1:
        _repair(settings, repairs, "metric", meant[0], because)
    elif len(meant) > 1 and settings["metric"] not in meant:
        raise SettingsError(f"the goal asks to {way} {word!r}, which may be {' or '.join(meant)}; the LLM chose "
                            f"{settings['metric']!r}", field="goal", value=word, allowed=meant, hint=hint)
    _repair(settings, repairs, "direction", way, because)
    return True


def goal_repairs(goal: str, settings: dict[str, Any], skill: Any, metrics: list[str], *, given_metric: str | None,
                 endpoint: str, model: str) -> list[str]:
    """What the goal says wins over the LLM's ``settings`` (changed in place): its metric and direction (unless
    ``--metric`` was given), a direction against the metric's evident one dropped (unless the goal says it), the
    algorithm, how many recs at once and the budget it names; an LLM algorithm's runs get the plan's ``endpoint``
    and ``model``. Returns the changes, one line each."""
    from tao_automl.llm.setup import LLM_ALGORITHMS
    from tao_automl.runner.plan import metric_direction

    repairs: list[str] = []
    goal_direction = given_metric is None and _metric_repairs(goal, settings, skill, metrics, repairs)
    evident = metric_direction(str(settings.get("metric", "")), skill)
    if evident is not None and not goal_direction and settings.get("direction") not in (None, evident[0]):
        repairs.append(f"direction {settings.pop('direction')!r} dropped: {evident[1]}")
    named = algorithm_said(goal)
    if named is not None:  # the user's choice wins
        _repair(settings, repairs, "algorithm", named[0], f"the goal says {named[1]!r}")
    if settings.get("algorithm") in LLM_ALGORITHMS:  # its runs ask the same endpoint: the config says which
        settings.setdefault("llm_endpoint", endpoint)
        settings.setdefault("llm_model", model)
    at_once = concurrency_said(goal)
    if at_once is not None:
        _repair(settings, repairs, "automl_max_concurrent", at_once[0], f"the goal says {at_once[1]!r}")
    budget = budget_said(goal)
    if budget is not None:  # the user's number wins
        _repair(settings, repairs, "automl_max_recommendations", budget[0], f"the goal says {budget[1]!r}")
    return repairs


def goal_unstated(goal: str, settings: Mapping[str, Any], metrics: list[str], *, given_metric: str | None) -> list[str]:
    """The settings the LLM chose that the goal does not speak to (its metric, trial count, algorithm), one
    ``key value`` each: a sentence that names none of them ("make it good") gets a config the LLM guessed, said so
    instead of shown as if asked for."""
    unstated: list[str] = []
    if given_metric is None and "metric" in settings and metric_said(goal, metrics) is None \
            and metric_asked(goal) is None:
        unstated.append(f"metric {settings['metric']!r}")
    if "automl_max_recommendations" in settings and budget_said(goal) is None:
        unstated.append(f"automl_max_recommendations {settings['automl_max_recommendations']!r}")
    if "algorithm" in settings and algorithm_said(goal) is None:
        unstated.append(f"algorithm {settings['algorithm']!r}")
    return unstated
