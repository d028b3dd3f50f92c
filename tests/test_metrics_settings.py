"""Metric parsing, the direction rule and settings validation."""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, readme_says
from tao_automl.errors import SettingsError
from tao_automl.metrics.job import extract_metric
from tao_automl.metrics.parse import (
    epochs_from_logs,
    kpi_names,
    kpi_series,
    metric_from_logs,
    metric_from_status,
    status_lines,
    to_objective,
)
from tao_automl.settings import HIGHER_IS_BETTER_WORDS, LOWER_IS_BETTER_WORDS, AutoMLSettings, infer_direction


def test_status_json_last_kpi_wins_and_tao_spellings_match() -> None:
    lines = [{"status": "STARTED"}, {"epoch": 1, "kpi": {"val/loss": 0.9}}, "not json",
             {"epoch": 2, "kpi": {"val_loss": 0.5, "val_accuracy": 0.8}}]
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    assert metric_from_status(text, "val_loss") == 0.5
    assert metric_from_status(text, "val/loss") == 0.5
    assert metric_from_status(text, "val_accuracy") == 0.8
    assert metric_from_status(text, "missing") is None


def test_a_metric_tao_writes_under_graphical_or_at_the_top_level_is_read() -> None:
    """TAO's status logger writes a trainer's running values (its train `loss`) under `graphical` and at the top
    level of each line, not under `kpi`: with metric `loss` (the spec's default) every rec failed with "reported no
    metric 'loss' ... it reported: val_acc" though each line held it. A name the line's kpi holds still wins."""
    lines = [{"status": "STARTED"},
             {"status": "RUNNING", "epoch": 1, "max_epoch": 2, "loss": 0.5, "graphical": {"loss": 0.5},
              "kpi": {"val_acc": 0.4}},
             {"status": "RUNNING", "epoch": 2, "max_epoch": 2, "loss": 0.3, "graphical": {"loss": 0.3},
              "kpi": {"val_acc": 0.6}}]
    text = "\n".join(json.dumps(line) for line in lines)
    assert metric_from_status(text, "loss") == 0.3
    assert kpi_series(status_lines(text), "loss") == [(1, 0.5), (2, 0.3)]
    assert metric_from_status(text, "val_acc") == 0.6
    flat = json.dumps({"epoch": 1, "loss": 9.0, "graphical": {"loss": 2.0}, "kpi": {"loss": 1.0}})
    assert metric_from_status(flat, "loss") == 1.0
    assert metric_from_status(json.dumps({"epoch": 1, "loss": 9.0, "graphical": {"loss": 2.0}}), "loss") == 2.0
    assert metric_from_status(json.dumps({"epoch": 1, "val_loss": 0.7}), "val_loss") == 0.7
    # a file whose kpi names the metric is read from kpi only: a later line's training `loss` under graphical
    # (validation every 2nd epoch) does not replace the last validated value
    mixed = [{"epoch": e, "graphical": {"loss": 1.0 / e}, **({"kpi": {"loss": 2.0 / e}} if e % 2 == 0 else {})}
             for e in range(1, 6)]
    mixed_text = "\n".join(json.dumps(line) for line in mixed)
    assert metric_from_status(mixed_text, "loss") == 0.5
    assert kpi_series(status_lines(mixed_text), "loss") == [(2, 1.0), (4, 0.5)]

def test_a_nested_kpi_is_read_by_the_path_of_its_names() -> None:
    """`{"kpi": {"val": {"loss": 0.4}}}`: the reader looked only at a flat kpi, so metric val/loss (or val_loss)
    failed with "reported no metric" and no name to suggest; a nested value is named by its path."""
    lines = [{"epoch": 1, "kpi": {"val": {"loss": 0.9, "acc": 0.1}}}, {"epoch": 2, "kpi": {"val": {"loss": 0.4}}}]
    text = "\n".join(json.dumps(line) for line in lines)
    assert metric_from_status(text, "val/loss") == 0.4 and metric_from_status(text, "val_loss") == 0.4
    assert metric_from_status(text, "val_acc") == 0.1 and metric_from_status(text, "loss") is None
    assert kpi_names(status_lines(text)) == ["val/loss", "val/acc"]

@pytest.mark.parametrize(("text", "expected"), [
    ("tensor(0.8000)", 0.8), ("tensor(0.8000, device='cuda:0')", 0.8), ("np.float64(0.8)", 0.8),
    ("tensor(nan, device='cuda:0')", math.nan), ("tensor([0.8, 0.9])", None), ("93%", None),
])
def test_a_kpi_tensor_or_numpy_scalar_written_as_text_is_read(text: str, expected: float | None) -> None:
    """A trainer serialising its metrics with json.dumps(..., default=str) writes a tensor as "tensor(0.8000)":
    the log reader read that form, status.json's did not (every rec failed, "which is not a number")."""
    got = metric_from_status(json.dumps({"epoch": 1, "kpi": {"val_acc": text}}), "val_acc")
    assert got == expected or (got is not None and math.isnan(got) and math.isnan(expected or 0.0))

def test_null_kpi_reads_as_nan() -> None:
    assert math.isnan(metric_from_status(json.dumps({"kpi": {"loss": None}}), "loss") or 0.0)


@pytest.mark.parametrize(
    ("logs", "expected"),
    [("epoch 1 val_loss: 0.7\nepoch 2 val_loss: 0.4\n", 0.4), ("val/loss=1e-3", 1e-3),
     ("{'val_loss': 0.25}", 0.25), ("train_val_loss: 9\nval_loss: 2", 2.0), ("nothing here", None)],
)
def test_metric_from_logs(logs: str, expected: float | None) -> None:
    assert metric_from_logs(logs, "val_loss") == expected


@pytest.mark.parametrize(("logs", "metric", "expected"), [
    # COCO's two mAPs on one line: mAP@0.5 read 0.95 from the name mAP@0.5:0.95 (every rec tied at 0.95)
    ("epoch 5  mAP@0.5: 0.6185  mAP@0.5:0.95: 0.3093", "mAP@0.5", 0.6185),
    ("epoch 5  mAP@0.5: 0.6185  mAP@0.5:0.95: 0.3093", "mAP@0.5:0.95", 0.3093),
    # another metric whose name ends with this one: `loss` read eval-loss's 9.0
    ("step 100 loss=0.6185 eval-loss=9.0", "loss", 0.6185),
    ("step 100 loss=0.6185 train.loss=9.0", "loss", 0.6185),
    # a best-so-far printed after the epoch's value: the README says the last value, not the best epoch's
    ("Epoch 3: val_acc=0.8995 (best val_acc=0.99 at epoch 1)", "val_acc", 0.8995),
    ("Epoch 3: val_acc=0.8995\nBest val_acc: 0.99\n", "val_acc", 0.8995),
    ("[epoch 1] loss=2.0 (min loss: 1.0)", "loss", 2.0),
    ("training done. Best val_acc: 0.99", "val_acc", 0.99),  # only a summary: it is what the job reported
    # a word or two between "best" and the name (a README audit: each gave the best epoch's 0.99 as the last value)
    ("epoch 1 val_acc: 0.7\nBest model: val_acc: 0.99", "val_acc", 0.7),
    ("epoch 1 val_acc: 0.7\nbest epoch 1: val_acc=0.99", "val_acc", 0.7),
    ("epoch 1 val_acc: 0.7\ntop-1 val_acc: 0.6", "val_acc", 0.6),  # top-1 names the accuracy, not a summary
    # ends of sentences and lists still read
    ("val_acc: 1e-3.", "val_acc", 1e-3), ("val_loss=0.3,val_acc=0.9", "val_loss", 0.3),
    ("version 1.5.3 val_acc=1.5.3", "val_acc", None),
    # a unit after the number still reads (a latency in ms, a time in s)
    ("latency: 12.5ms", "latency", 12.5), ("epoch_time=3.2s, loss=0.1", "epoch_time", 3.2),
    ("val_acc: 89.95%", "val_acc", 89.95),
    # a decimal comma or a thousands separator: not its integer part (12,5 read as 12; 1,234 as 1); a comma
    # followed by another name still ends the value
    ("epoch 1 val_acc: 0.5\nepoch 2 val_acc: 12,5", "val_acc", 0.5), ("val_acc: 12,5", "val_acc", None),
    ("steps=1,234", "steps", None), ("val_acc=0,75 loss=0.3", "val_acc", None), ("val_acc=0.7, loss=1", "val_acc", 0.7),
    # the start of a token that is no decimal number is not its value (1_000 read as 1, 45/50 as 45, a date as its
    # year, 0x10 as 0, 5e3.2 as 5): nothing is read, as from 1.5.3 or 12,5
    ("steps=1_000", "steps", None), ("correct: 45/50", "correct", None), ("val_acc=2024-01-01", "val_acc", None),
    ("val_acc=0x10", "val_acc", None), ("val_acc=5e3.2", "val_acc", None), ("val_acc=0.5-0.6", "val_acc", None),
    ("epoch 1 val_acc: 0.5\nepoch 2 val_acc: 45/50", "val_acc", 0.5),
    # what still reads beside them: an exponent, a unit, a rate, a separator before the next name
    ("lr=1e-3", "lr", 1e-3), ("speed=9.5it/s", "speed", 9.5), ("val_loss=0.3-val_acc=0.9", "val_loss", 0.3),
    ("val_acc: 0.9x", "val_acc", 0.9),
    # README: "a space does separate: `eval loss: 0.5` is a value of `loss`"; "a word after the value,
    # `val_acc: 0.99 (best so far)`, does not count: that is often the epoch's own value"
    ("eval loss: 0.5", "loss", 0.5), ("eval loss: 0.5", "eval_loss", None),
    ("epoch 2 val_acc: 0.9\nepoch 3 val_acc: 0.99 (best so far)", "val_acc", 0.99),
])
def test_a_metric_is_read_from_its_own_name_and_the_epochs_value(logs: str, metric: str,
                                                                 expected: float | None) -> None:
    """Three log formats made the sweep rank recs by a value the job never reported for the metric, exit 0 and no
    warning (an audit's runs: every rec 0.95, every rec 9, every rec its best epoch's)."""
    assert metric_from_logs(logs, metric) == expected


@pytest.mark.parametrize(("last_line", "expected"), [
    # a diverged last epoch as C's printf (-nan) or a signed format (+inf) writes it: read the earlier 0.5, success
    ("epoch 2 val_acc: -nan", math.nan), ("epoch 2 val_acc: +inf", math.inf), ("epoch 2 val_acc=-NaN", math.nan),
    # the epoch's value as PyTorch/numpy print it, or quoted in a JSON log line: read the earlier 0.5
    ("epoch 2 {'val_acc': tensor(0.8000)}", 0.8), ("epoch 2 {'val_acc': tensor(0.8, device='cuda:0')}", 0.8),
    ("epoch 2 {'val_acc': np.float64(0.8)}", 0.8), ('{"epoch": 2, "val_acc": "0.8"}', 0.8),
    ("epoch 2 {'val_acc': tensor(nan)}", math.nan),
    # a word that starts like inf/nan is no value
    ("epoch 2 val_acc: info", 0.5), ("epoch 2 val_acc: nanny", 0.5),
])
def test_the_last_logged_value_is_read_however_it_is_printed(last_line: str, expected: float) -> None:
    """A log's last value in a spelling the reader did not know was skipped and the previous epoch's 0.5 read: a
    diverged job (`val_acc: -nan`) ranked as a success, a PyTorch job scored by an earlier epoch."""
    got = metric_from_logs(f"epoch 1 val_acc: 0.5\n{last_line}\n", "val_acc")
    assert got is not None and (math.isnan(got) if math.isnan(expected) else got == expected)

#: What PyTorch Lightning (2.x, rich installed) prints after `trainer.validate(...)`, under its progress bar.
LIGHTNING_VALIDATE = """\
Epoch 4: 100%|██████████| 10/10 [00:01<00:00,  8.00it/s, v_num=0, loss=0.31]
`Trainer.fit` stopped: `max_epochs=5` reached.
Validation DataLoader 0: 100%|██████████| 4/4 [00:00<00:00, 45.10it/s]
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
┃      Validate metric      ┃       DataLoader 0        ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
│          val_acc          │    0.699999988079071      │
│         val_loss          │    0.6931471824645996     │
└───────────────────────────┴───────────────────────────┘
"""


@pytest.mark.parametrize(("logs", "metric", "expected"), [
    (LIGHTNING_VALIDATE, "val_acc", 0.699999988079071), (LIGHTNING_VALIDATE, "val/loss", 0.6931471824645996),
    (LIGHTNING_VALIDATE, "loss", 0.31),  # the progress bar's loss; val_loss's row is not loss's
    (LIGHTNING_VALIDATE.replace("│", "|").replace("┃", "|"), "val_acc", 0.699999988079071),  # ASCII borders
    ("| Test metric | DataLoader 0 |\n|   test_mAP  |    0.41      |\n", "test_mAP", 0.41),
    # a `name: value` of the metric in the log is its own report: the table is read only without one
    ("epoch 4 val_acc=0.65\n" + LIGHTNING_VALIDATE, "val_acc", 0.65),
    # a best-epoch summary is no better than the table's value of the final weights
    ("Best val_acc: 0.99\n" + LIGHTNING_VALIDATE, "val_acc", 0.699999988079071),
    ("│ val_acc │ nan │", "val_acc", math.nan), ("│ val_acc │ n/a │", "val_acc", None),
])
def test_the_table_pytorch_lightning_prints_after_validate_is_read(logs: str, metric: str, expected: float) -> None:
    """TAO's PyTorch networks train with Lightning, whose validate/test print their metrics in a table
    (`│ val_acc │ 0.7 │`): such a job failed "reported no metric 'val_acc'" though its log held it."""
    got = metric_from_logs(logs, metric)
    assert got == expected or (got is not None and math.isnan(got) and math.isnan(expected))


@pytest.mark.parametrize(("logs", "expected"), [
    ("epoch 1 val_acc=0.1\nepoch 2 val_acc=0.2\nTraining done. Best val_acc: 0.2 (epoch summary)\n", [1, 2]),
    ("Epoch 1/9\n10/10 - loss: 1.0 - val_acc: 0.5\nEpoch 2/9\n10/10 - loss: 0.9 - val_acc: 0.6\n", [1, 2]),
    ("Epoch [3/9] val_acc: 0.5\nEpoch: 4, val_acc=0.6\nepoch=5 val_acc=0.7", [3, 4, 5]),
    ("Epoch 0: 100%| val_acc=0.5\nEpoch 1: 100%| val_acc=0.6", [0, 1]),
    # config dumps and summaries are no epoch trained; epochs after the value read are not yet trained at it
    ("num_epochs=9 max_epoch: 9 epochs: 9\nepoch 2 val_acc=0.4\nbest val_acc 0.4 at epoch 2\n", [2]),
    ("epoch 1 val_acc=0.3\nepoch 2 val_acc=0.4 (best val_acc=0.4 at epoch 2)", [1, 2]),
    ("val_acc=0.4", []), ("epoch 3 loss=1.0", []),
])
def test_the_epochs_a_log_names_up_to_its_metric(logs: str, expected: list[int]) -> None:
    assert epochs_from_logs(logs, "val_acc") == expected


def test_status_json_written_with_an_indent_is_read() -> None:
    """`json.dump({...}, f, indent=2)` per epoch: every rec failed with "reported no metric 'val_acc' (looked in
    status.json kpi ...)" though the file held it. Indented objects, one JSON list, and a last object cut short
    while it is written all read."""
    indented = "".join(json.dumps({"epoch": e, "kpi": {"val_acc": e / 10}}, indent=2) + "\n" for e in (1, 2, 3))
    assert metric_from_status(indented, "val_acc") == 0.3
    assert metric_from_status(indented + '{\n  "epoch": 4,\n  "kpi": {\n    "val_a', "val_acc") == 0.3
    listed = json.dumps([{"epoch": e, "kpi": {"val_acc": e / 10}} for e in (1, 2)])
    assert metric_from_status(listed, "val_acc") == 0.2



def test_an_integer_past_a_floats_range_is_a_non_finite_value_not_a_crash() -> None:
    """A kpi integer too large for a float (JSON has no limit) raised OverflowError out of the metric reader and
    ended the whole run (its rec left `running`); it reads as inf, like 1e400 does, so the rec fails instead."""
    text = '{"epoch": 1, "kpi": {"val_acc": 0.5}}\n{"epoch": 2, "kpi": {"val_acc": 1' + "0" * 400 + "}}\n"
    assert metric_from_status(text, "val_acc") == math.inf
    assert metric_from_status(text.replace('"val_acc": 1', '"val_acc": -1'), "val_acc") == -math.inf

@pytest.mark.parametrize("broken", [
    '{"epoch": 2, "kpi": {"val_a',  # killed mid-write; the resumed job appended its next object to the cut line
    "\ufffd\ufffd",  # bytes that are not UTF-8 (read as replacement characters) before the object
    "\ufeff",  # a byte-order mark
])
def test_an_object_after_text_that_is_not_json_on_its_line_is_read(broken: str) -> None:
    """A job killed while writing status.json leaves its last line cut short with no newline; the resumed job's
    next object lands on that line. The reader skipped the whole line, so the run scored the rec 0.5 (its epoch-1
    value) though the job ended at 0.8."""
    text = '{"epoch": 1, "kpi": {"val_acc": 0.5}}\n' + broken + '{"epoch": 2, "kpi": {"val_acc": 0.8}}\n'
    assert metric_from_status(text, "val_acc") == 0.8
    assert metric_from_status(broken + '{"epoch": 1, "kpi": {"val_acc": 0.7}}', "val_acc") == 0.7

@pytest.mark.parametrize(
    ("name", "direction"),
    [("loss", "minimize"), ("val_loss", "minimize"), ("accuracy", "maximize"), ("mAP", "maximize"),
     ("val_error", "minimize"), ("latency_ms", "minimize"), ("wer", "minimize"), ("val_rmse", "minimize"),
     ("valLoss", "minimize"), ("val/RMSE", "minimize"), ("error_rate", "minimize"), ("epoch-time", "minimize"),
     ("HTTPLatency", "minimize"), ("mAP50", "maximize"),
     # a lower-is-better word inside another word does not count (these were minimised: suffix "ate"/"wer"/"time")
     ("success_rate", "maximize"), ("hit_rate", "maximize"), ("win_rate", "maximize"),
     ("true_positive_rate", "maximize"), ("accurate", "maximize"), ("power", "maximize"), ("uptime", "maximize"),
     # ... except loss and error, which are part of no higher-is-better word
     ("valloss", "minimize"), ("val_totalloss", "minimize"), ("toperror", "minimize")],
)
def test_direction_rule(name: str, direction: str) -> None:
    assert infer_direction(name) == direction


@pytest.mark.parametrize(("name", "direction", "warned"), [
    ("runtime", "minimize", True), ("dist", "minimize", True), ("val_accuracy", "maximize", False),
    ("mAP50", "maximize", False), ("val_f1", "maximize", False), ("power", "maximize", True),
    ("uptime", "maximize", True), ("success_rate", "maximize", False), ("val_loss", "minimize", False),
])
def test_a_name_that_does_not_say_which_way_is_better_is_never_maximised_silently(
        name: str, direction: str, warned: bool, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        assert infer_direction(name) == direction
    assert bool(caplog.records) == warned, [r.getMessage() for r in caplog.records]
    if warned:
        assert "automl_settings.direction" in caplog.records[0].getMessage()


def test_the_readme_lists_the_words_the_direction_rule_reads() -> None:
    """README lists every lower-is-better word of the rule (a name made of one of them is minimised) and gives
    higher-is-better examples (a name made of one of them is maximised without a warning): the list and the rule's
    words are the same, so a word added to or dropped from either one fails here. SKILL.md's config comment names
    some of them: each is one of the rule's."""
    lower, = readme_says(r"`minimize` when a word of the metric's name .*? is one of ([a-z, ]+?), or the name contains")
    listed = [w.strip() for w in lower.split(",")]
    assert listed == list(LOWER_IS_BETTER_WORDS)
    assert all(infer_direction(f"val_{word}") == "minimize" for word in listed)
    higher, = readme_says(r"without a higher-is-better word \(([a-z0-9, ]+), \.\.\.\)")
    examples = [w.strip() for w in higher.split(",")]
    assert len(examples) >= 10 and set(examples) <= set(HIGHER_IS_BETTER_WORDS), examples
    skill = (REPO / "src" / "tao_automl" / "SKILL.md").read_text()  # its config's comment names some of them
    named = re.search(r"\(((?:[a-z]+, )+)\.\.\.: README lists them; `rate` is not one\)",
                      " ".join(skill.replace("#", " ").split()))
    assert named and set(named[1].rstrip(", ").split(", ")) <= set(listed) and "rate" not in listed


@pytest.mark.parametrize(("pattern", "setting", "convert"), [
    (r"`automl_fail_fast_after` \(default (\d+); 0 = off\)", "automl_fail_fast_after", int),
    (r"`status_interval_minutes` \(an `automl_settings` key, default (\d+)", "status_interval_minutes", float),
    (r"The default budget is (\d+) recs", "automl_max_recommendations", int),
    (r"`automl_settings.algorithm`: `(\w+)` \(default:", "algorithm", str),
    (r"`automl_job_timeout_s` \(unset: (none)\)", "automl_job_timeout_s", lambda _: None),
    (r"so is the brain \(`seed`, (\d+) by default\)", "seed", int),
], ids=["fail_fast_after", "status_interval_minutes", "max_recommendations", "algorithm", "job_timeout_s", "seed"])
def test_a_default_the_readme_states_is_the_settings_default(pattern: str, setting: str,
                                                             convert: Any) -> None:
    """The defaults README states, read from README itself, are what an empty ``automl_settings`` gets."""
    stated, = readme_says(pattern)
    assert getattr(AutoMLSettings.from_mapping({}), setting) == convert(stated)


def test_a_bool_setting_takes_the_words_the_readme_names_in_any_case_and_nothing_else() -> None:
    """README: "a bool takes `true`/`false` or exactly `true/false/yes/no` in any case, surrounding spaces ignored
    (never `"0"`, `1` or truthiness)"."""
    words, = readme_says(r"a bool takes `true`/`false` or exactly `([a-z/]+)` in any case, surrounding spaces "
                         r"ignored \(never `\"0\"`, `1`")
    assert words.split("/") == ["true", "false", "yes", "no"]
    for word in words.split("/"):
        for spelt in (word, word.upper(), word.title(), f" {word} "):
            got = AutoMLSettings.from_mapping({"auto_multifidelity": spelt}).auto_multifidelity
            assert got is (word in ("true", "yes")), spelt
    for refused in ("0", 1, "on", "y", "", None):
        with pytest.raises(SettingsError, match="auto_multifidelity"):
            AutoMLSettings.from_mapping({"auto_multifidelity": refused})


class _TailSDK:
    """A platform whose log is ``text`` and which serves its last ``tail`` lines, as every SDK does."""

    def __init__(self, text: str) -> None:
        self.text = text

    def get_job_logs(self, job_id: str, tail: int | None = None) -> str:
        lines = self.text.splitlines(keepends=True)
        return "".join(lines[-tail:] if tail else lines)


def test_the_metric_is_read_from_as_many_last_log_lines_as_the_readme_says() -> None:
    """README: with no status.json the metric is the last value in the job's log, "its last 2,000 lines": a value
    that many lines from the end is read, one line further up is not."""
    stated, = readme_says(r"in the job's log \(its last ([\d,]+) lines\)")
    lines = int(stated.replace(",", ""))
    near = "val_acc: 0.75\n" + "step done\n" * (lines - 1)
    assert extract_metric(_TailSDK(near), "j", None, "val_acc", None) == (0.75, "logs")
    assert extract_metric(_TailSDK(near + "step done\n"), "j", None, "val_acc", None) == (None, "none")


def test_objective_flip_is_minimisation_form() -> None:
    assert to_objective(0.9, "maximize") == -0.9
    assert to_objective(0.9, "minimize") == 0.9


def test_unknown_setting_names_nearest_key() -> None:
    with pytest.raises(SettingsError, match="automl_max_recommendations"):
        AutoMLSettings.from_mapping({"automl_max_recomendations": 3})


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"automl_max_concurrent": 0}, "automl_max_concurrent"), ({"direction": "up"}, "direction"),
     ({"automl_max_recommendations": "10"}, "automl_max_recommendations"), ({"seed": -1}, "seed")],
)
def test_bad_setting_values_name_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(SettingsError, match=field):
        AutoMLSettings.from_mapping(settings)


@pytest.mark.parametrize(("setting", "given", "write"), [
    ("poll_interval_s", "1e3", "1.0e+3"), ("automl_job_timeout_s", "36e2", "36.0e+2"),
    ("status_interval_minutes", "5e1", "5.0e+1"), ("automl_max_recommendations", "1e3", "1000")])
def test_a_number_yaml_read_as_text_in_automl_settings_says_how_to_write_it(
        tmp_path: Path, setting: str, given: str, write: str) -> None:
    """`poll_interval_s: 1e3` in a run config is the text '1e3' to PyYAML: it was refused as "'1e3' is not allowed;
    expected a number of seconds", though the author wrote a number. It says how to write it, as spec keys and
    custom ranges already did; what it says to write is then taken."""
    from tao_automl.cli.run_config import load_run_config

    config, head = tmp_path / "run.yaml", "skill_dir: builtin:demo-digits-mlp\nworkspace_path: ws\nautoml_settings:\n"
    config.write_text(f"{head}  {setting}: {given}\n")
    with pytest.raises(SettingsError) as caught:
        AutoMLSettings.from_mapping(load_run_config(config).automl_settings)
    assert str(caught.value).endswith(f"(YAML reads {given} as text, not a number: write {write})"), caught.value
    assert caught.value.field == f"automl_settings.{setting}" and caught.value.value == given
    config.write_text(f"{head}  {setting}: {write}\n")
    assert getattr(AutoMLSettings.from_mapping(load_run_config(config).automl_settings), setting) == float(given)


@pytest.mark.parametrize("key", ["automl_hyperparameters", "spec_overrides", "custom_param_ranges"])
def test_a_run_key_inside_automl_settings_says_where_it_belongs(key: str) -> None:
    with pytest.raises(SettingsError, match=rf"'{key}' is not a setting but a key of the run itself: put it next to "
                                            r"automl_settings") as caught:
        AutoMLSettings.from_mapping({"metric": "val_loss", key: ["train.lr"]})
    assert caught.value.field == f"automl_settings.{key}"


def test_the_run_keys_named_there_are_the_run_configs() -> None:
    from dataclasses import fields

    from tao_automl.runner.run_args import RunArgs
    from tao_automl.settings import RUN_CONFIG_KEYS

    assert {f.name for f in fields(RunArgs)} - {"automl_settings"} == RUN_CONFIG_KEYS


OVERFITTING_TRAINER = textwrap.dedent(
    """
    import json, os, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        for epoch, loss in ((1, 0.9), (2, 0.3), (3, 0.6)):  # best at epoch 2, ends worse
            f.write(json.dumps({"epoch": epoch, "kpi": {"val_loss": loss}}) + "\\n")
    """
)


def test_a_recs_metric_is_the_last_value_its_job_reported_not_its_best_epoch(tmp_path: Path) -> None:
    """README: a rec is scored by where its job ended (the final weights its spec leaves), not by its best epoch;
    the epoch curve keeps every value."""
    from conftest import write_skill
    from tao_automl.platforms.local import LocalSDK
    from tao_automl.runner import AutoMLRunner

    skill = write_skill(tmp_path / "bank", trainer=OVERFITTING_TRAINER)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False)
    result = runner.run(automl_settings={"algorithm": "random", "metric": "val_loss",
                                         "automl_max_recommendations": 1, "poll_interval_s": 0.2},
                        workspace_path=tmp_path / "ws", gpu_count=0)
    assert result["best"]["metric_value"] == 0.6 and result["recommendations"][0]["metric_value"] == 0.6


def _one_rec_run(tmp_path: Path, trainer: str | None = None, **run_kwargs: Any) -> dict[str, Any]:
    """A real one-rec random run of the toy skill (its ``trainer`` if given) on the local platform, metric val_loss."""
    from conftest import write_skill
    from tao_automl.platforms.local import LocalSDK
    from tao_automl.runner import AutoMLRunner

    skill = write_skill(tmp_path / "bank", **({} if trainer is None else {"trainer": trainer}))
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False)
    result: dict[str, Any] = runner.run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                         "poll_interval_s": 0.2}, workspace_path=tmp_path / "ws", gpu_count=0, **run_kwargs)
    return result


DIVERGING_TRAINER = textwrap.dedent(
    """
    import json, os, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        f.write(json.dumps({"epoch": 1, "kpi": {"val_loss": 0.9}}) + "\\n")
        f.write('{"epoch": 2, "kpi": {"val_loss": NaN}}\\n')  # Python's json.dumps of float("nan")
    """
)


def test_a_diverged_recs_failure_names_the_metric_and_the_file_it_was_read_from(tmp_path: Path) -> None:
    """A job whose last value is NaN failed with "metric is not a finite number (nan)": no metric named, nor where
    it was read. The message now names both, and `status --json` shows the same failure."""
    from tao_automl.status import query_status

    result = _one_rec_run(tmp_path, DIVERGING_TRAINER)
    rec = result["recommendations"][0]
    assert rec["status"] == "failure" and rec["metric_value"] is None and result["best"] is None
    assert re.fullmatch(r"metric 'val_loss' is not a finite number \(nan\): the last value the job reported \(read "
                        r"from .*/rec_0001/results/status\.json\)", rec["message"]), rec["message"]
    status = query_status(next((tmp_path / "ws").glob("run_*")))
    assert status["recommendations"][0]["message"] == rec["message"]


MULTI_DIVERGING_TRAINER = DIVERGING_TRAINER.replace(
    '{"val_loss": 0.9}', '{"val_loss": 0.9, "val_acc": 0.5}').replace('{"val_loss": NaN}',
                                                                         '{"val_loss": 0.8, "val_acc": NaN}')


def test_a_diverged_second_metrics_failure_names_the_file_it_was_read_from(tmp_path: Path) -> None:
    """With a list of metrics, a NaN of the second one failed the rec with "metric 'val_acc' is not a finite number
    (nan)", naming no file, where a single metric's failure names the status.json it was read from."""
    from conftest import write_skill
    from tao_automl.platforms.local import LocalSDK
    from tao_automl.runner import AutoMLRunner

    skill = write_skill(tmp_path / "bank", trainer=MULTI_DIVERGING_TRAINER)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False)
    result = runner.run(automl_settings={
        "algorithm": "random", "automl_max_recommendations": 1, "poll_interval_s": 0.2,
        "metric": [{"name": "val_loss", "direction": "minimize"}, {"name": "val_acc", "direction": "maximize"}]},
        workspace_path=tmp_path / "ws", gpu_count=0)
    rec = result["recommendations"][0]
    assert rec["status"] == "failure", rec
    assert re.fullmatch(r"metric 'val_acc' is not a finite number \(nan\): the last value the job reported \(read "
                        r"from .*/rec_0001/results/status\.json\)", rec["message"]), rec["message"]


@pytest.mark.parametrize(("returned", "shown"), [
    (10**400, r"1000000000\d{50}\.\.\. \(401 characters\)"), (10**5000, "an integer of about 5000 digits"),
], ids=["1e400", "1e5000"])
def test_a_metric_extractors_number_past_a_floats_range_fails_its_rec_saying_so(tmp_path: Path, returned: int,
                                                                                shown: str) -> None:
    """An extractor returning 10**400 ended the run with a raw "OverflowError: int too large to convert to float"
    from inside the runner; now that rec fails, its message naming the extractor and the value, cut short."""
    result = _one_rec_run(tmp_path, metric_extractor=lambda logs, name: returned)
    rec = result["recommendations"][0]
    assert rec["status"] == "failure" and rec["metric_value"] is None and result["best"] is None
    assert re.fullmatch(rf"metric_extractor returned {shown}, a number past a float's range \(at most about "
                        r"1\.8e308\)", rec["message"]), rec["message"]


@pytest.mark.parametrize(("content", "state"), [
    (None, " (not found)"), ("", " (empty)"), ("  \n", " (empty)"), ("Traceback ...\n", " (no JSON object)"),
    ('{"epoch": 1, "kpi": {"val_loss": 0.5}}\n', ""),
])
def test_a_missing_metrics_failure_names_the_status_file_and_what_was_wrong_with_it(
        tmp_path: Path, content: str | None, state: str) -> None:
    """The failure said "looked in status.json kpi" whether the job wrote no status.json, an empty one, one of
    text that is not JSON, or one without the metric, and never said which file: now its path and which it was."""
    from tao_automl.metrics.job import missing_metric_message

    if content is not None:
        (tmp_path / "status.json").write_text(content)
    message = missing_metric_message(_TailSDK(""), "j", str(tmp_path), "val_acc")
    assert f"reported no metric 'val_acc' (looked in {tmp_path}/status.json{state} and the last 2000 lines" in message


def test_a_kpi_log_line_gives_the_metric_only_when_the_settings_name_kpi() -> None:
    """SPEC 5 lists ``kpi: value`` among the log lines read: with ``metric: kpi`` (resolved to the model's monitoring
    metric) such a line gives the value when the log has none under the metric's own name; never otherwise."""
    sdk = _TailSDK("epoch 1\nkpi: 0.42\n")
    assert extract_metric(sdk, "j", None, "val_loss", None, kpi_line=True) == (0.42, "logs")
    assert extract_metric(sdk, "j", None, "val_loss", None) == (None, "none")
    named = _TailSDK("val_loss: 0.3\nkpi: 0.42\n")  # the metric's own name wins
    assert extract_metric(named, "j", None, "val_loss", None, kpi_line=True) == (0.3, "logs")


def test_the_skills_results_file_is_read_after_status_json_and_the_log(tmp_path: Path) -> None:
    """SPEC 5: status.json, then the log, then a results file (the TAO bank's ``actions.<action>.metric_file``,
    e.g. ``metrics.json``). It was never read: a job that wrote its metric only there failed "reported no metric"."""
    from tao_automl.metrics.job import missing_metric_message

    sdk = _TailSDK("epoch 3 done\n")
    assert extract_metric(sdk, "j", str(tmp_path), "val_mse", None, "metrics.json") == (None, "none")
    assert "metrics.json (not found)" in missing_metric_message(sdk, "j", str(tmp_path), "val_mse", "metrics.json")
    (tmp_path / "metrics.json").write_text(json.dumps({"val_mse": 0.25, "train_mse": 0.1}))
    assert extract_metric(sdk, "j", str(tmp_path), "val_mse", None, "metrics.json") == (0.25, "metrics.json")
    assert extract_metric(sdk, "j", str(tmp_path), "val_mse", None) == (None, "none")  # no file declared: not read
    assert extract_metric(_TailSDK("val_mse: 0.5\n"), "j", str(tmp_path), "val_mse", None,
                          "metrics.json") == (0.5, "logs")  # the log comes first
    (tmp_path / "status.json").write_text(json.dumps({"epoch": 1, "kpi": {"val_mse": 0.75}}) + "\n")
    assert extract_metric(sdk, "j", str(tmp_path), "val_mse", None, "metrics.json") == (0.75, "status.json")


def test_a_status_json_a_folder_down_is_the_newest_of_them_and_its_path_is_named(tmp_path: Path) -> None:
    """With no status.json in the results folder, the first `*/status.json` the filesystem listed was read: with
    `train/` and `evaluate/` both holding one, which rec got which value was arbitrary, and the failure messages
    named `RESULTS_DIR/status.json`, a file that does not exist. Now the only one is read, or of several the most
    recently written (equal times: the first by name), and the source names the file read."""
    import os

    from tao_automl.metrics.job import missing_metric_message

    def write(folder: str, value: float, mtime: float) -> None:
        (tmp_path / folder).mkdir(exist_ok=True)
        status = tmp_path / folder / "status.json"
        status.write_text(json.dumps({"epoch": 1, "kpi": {"val_acc": value}}) + "\n")
        os.utime(status, (mtime, mtime))

    sdk = _TailSDK("")
    write("train", 0.7, 1000.0)
    assert extract_metric(sdk, "j", str(tmp_path), "val_acc", None) == (0.7, "train/status.json")
    write("evaluate", 0.9, 2000.0)  # the job's last write: its evaluate step after training
    assert extract_metric(sdk, "j", str(tmp_path), "val_acc", None) == (0.9, "evaluate/status.json")
    write("zz_later", 0.1, 500.0)  # an older one, whatever its name's place in a listing
    assert extract_metric(sdk, "j", str(tmp_path), "val_acc", None) == (0.9, "evaluate/status.json")
    write("train", 0.7, 2000.0)  # equal times: the first by name
    assert extract_metric(sdk, "j", str(tmp_path), "val_acc", None) == (0.9, "evaluate/status.json")
    message = missing_metric_message(sdk, "j", str(tmp_path), "mAP")
    assert f"looked in {tmp_path}/evaluate/status.json and the last" in message
    write("", 0.5, 100.0)  # the results folder's own status.json comes first, however old
    assert extract_metric(sdk, "j", str(tmp_path), "val_acc", None) == (0.5, "status.json")


SUBFOLDER_DIVERGING_TRAINER = DIVERGING_TRAINER.replace('spec["results_dir"]', 'os.path.join(spec["results_dir"], '
                                                                               '"train")')


def test_a_diverged_recs_failure_names_the_status_json_a_folder_down_it_was_read_from(tmp_path: Path) -> None:
    """The failure named `.../results/status.json` though the job wrote `.../results/train/status.json`."""
    result = _one_rec_run(tmp_path, SUBFOLDER_DIVERGING_TRAINER)
    rec = result["recommendations"][0]
    assert rec["status"] == "failure", rec
    assert re.fullmatch(r"metric 'val_loss' is not a finite number \(nan\): the last value the job reported \(read "
                        r"from .*/rec_0001/results/train/status\.json\)", rec["message"]), rec["message"]


@pytest.mark.parametrize("last_line", [
    "\x1b[38;20m2024-01-01 10:00:00 - INFO - epoch 2 val_acc: 0.8\x1b[0m",  # a logger colouring the whole line
    "epoch 2 \x1b[32mval_acc\x1b[0m: 0.8", "epoch 2 val_acc: \x1b[1m0.8\x1b[0m",
    "\r\x1b[2Kepoch 2 val_acc=0.8",  # a progress bar's redraw
])
def test_a_coloured_log_line_is_read(last_line: str) -> None:
    """A name or value wrapped in terminal colour codes was not read (the code's `m` glued to the name), so the
    rec was scored by the previous, uncoloured epoch's 0.5, or failed with no metric."""
    logs = f"epoch 1 val_acc: 0.5\n{last_line}\n"
    assert metric_from_logs(logs, "val_acc") == 0.8
    assert epochs_from_logs(logs, "val_acc") == [1, 2]


def test_a_big_status_json_of_lines_that_are_not_json_is_read_in_linear_time() -> None:
    """50,000 lines a trainer wrote as Python dicts (`{'epoch': 1, ...}`, not JSON) then one JSON line: each bad
    line's decode error counted every line before it, so one read took about 20 s (100,000 lines: over a minute, and
    the runner reads a rec's status.json several times). Lists nested past Python's stack crashed the reader."""
    import time

    text = "\n".join(str({"epoch": e, "kpi": {"val_acc": e / 1e5}}) for e in range(50_000))
    text += '\n{"epoch": 1, "kpi": {"val_acc": 0.5}}\n'
    started = time.monotonic()
    assert metric_from_status(text, "val_acc") == 0.5
    assert time.monotonic() - started < 8
    assert metric_from_status("[" * 100_000 + '\n{"epoch": 1, "kpi": {"val_acc": 0.5}}', "val_acc") == 0.5


RERUN_TRAINER = textwrap.dedent(
    """
    import json, os, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        for epoch in (1, 2, 3, 4):  # a first run, killed after epoch 4 (its pod restarted)
            f.write(json.dumps({"epoch": epoch, "kpi": {"val_acc": epoch / 10}}) + "\\n")
        for epoch in (1, 2, 3):  # the rerun, in the same folder, stops early by itself after epoch 3
            f.write(json.dumps({"epoch": epoch, "kpi": {"val_acc": 0.5 + epoch / 100}}) + "\\n")
        f.write(json.dumps({"status": "SUCCESS", "kpi": {"val_acc": 0.53}}) + "\\n")
    """
)


def test_a_rerun_jobs_result_is_recorded_at_the_epoch_its_last_run_reached(tmp_path: Path) -> None:
    """A job run again in the same results folder appends a restarted epoch count: its metric is the rerun's last
    value (0.53, at the rerun's epoch 3), but it was recorded at epoch 4, the first run's highest."""
    from conftest import write_skill
    from tao_automl.platforms.local import LocalSDK
    from tao_automl.runner import AutoMLRunner
    from tao_automl.status import query_status

    skill = write_skill(tmp_path / "bank", trainer=RERUN_TRAINER)
    runner = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False)
    result = runner.run(automl_settings={"algorithm": "random", "metric": "val_acc",
                                         "automl_max_recommendations": 1, "poll_interval_s": 0.2},
                        spec_overrides={"train.num_epochs": 5}, workspace_path=tmp_path / "ws", gpu_count=0)
    rec = result["recommendations"][0]
    assert (rec["metric_value"], rec["budget"], rec["budget_reached"]) == (0.53, 5, 3)
    assert result["best"]["budget_reached"] == 3
    stored = query_status(next((tmp_path / "ws").glob("run_*")))["recommendations"][0]
    assert (stored["metric_value"], stored["budget_reached"]) == (0.53, 3)


SCORE_PRINTER = textwrap.dedent(
    """
    import time
    for step in range(5):
        print(f"step {step} score 0.42", flush=True)
        time.sleep(0.4)
    """)


def _last_score(logs: str) -> float | None:
    """The last score SCORE_PRINTER's log holds, or None."""
    found = re.findall(r"score (\d+\.\d+)", logs)
    return float(found[-1]) if found else None


def _scored_run(tmp_path: Path, sdk: type[Any], extractor: Callable[[str, str], float | None],
                poll_interval_s: float) -> dict[str, Any]:
    """One random rec of SCORE_PRINTER's 2 s job on ``sdk`` with the metric ``extractor``: the rec, which succeeded
    with the score its log printed (0.42)."""
    from conftest import write_skill
    from tao_automl.runner import AutoMLRunner

    skill = write_skill(tmp_path / "bank", trainer=SCORE_PRINTER)
    result = AutoMLRunner(sdk(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 1,
                         "poll_interval_s": poll_interval_s}, workspace_path=tmp_path / "ws", gpu_count=0,
        metric_extractor=extractor)
    rec: dict[str, Any] = result["recommendations"][0]
    assert (rec["status"], rec["metric_value"]) == ("success", 0.42), rec
    return rec


def test_a_metric_extractor_is_called_on_log_polls_and_keeps_polling_after_it_raised(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SPEC 2.1: the extractor "is called on log polls" and, when it raises, "keep polling". It was called once, on
    the ended job's log: a platform that drops a finished job's log (a deleted pod) gave it nothing, and one exception
    there lost its value. Here the log is gone once the job ends and the extractor raises on its first call (its log
    fetched at every poll here: the job lasts 2 s)."""
    from tao_automl.platforms.base import JobStatus
    from tao_automl.platforms.local import LocalSDK
    from tao_automl.runner import loop

    monkeypatch.setattr(loop, "EXTRACTOR_POLL_EVERY_S", 0.0)

    class LogGoneOnceEnded(LocalSDK):
        def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
            return "" if JobStatus.parse(self.get_job_status(job_id)).is_finished() else super().get_job_logs(job_id,
                                                                                                                 tail)

    calls: list[str] = []

    def score(logs: str, name: str) -> float | None:
        calls.append(logs)
        if len(calls) == 1:
            raise RuntimeError("not ready")
        return _last_score(logs)

    _scored_run(tmp_path, LogGoneOnceEnded, score, poll_interval_s=0.2)
    assert len(calls) >= 3, calls


def test_an_algorithm_no_brain_answers_to_is_refused_by_the_settings_themselves(tmp_path: Path) -> None:
    """`algorithm: grid` passed AutoMLSettings (from_mapping and validate(): what the Python API, `AutoML(...)` and
    the MCP's NL config check) and was refused only where a run's plan looked the name up. The settings now refuse
    a name the brain registry lacks, naming the field, the value and the names it has, with the plan's words; and
    every name the registry has is accepted."""
    from tao_automl.automl import AutoML
    from tao_automl.brain.registry import ALGORITHMS
    from tao_automl.runner.plan import load_settings

    for build in (lambda: AutoMLSettings.from_mapping({"algorithm": "grid"}),
                  lambda: AutoMLSettings(algorithm="grid").validate(), lambda: load_settings({"algorithm": "grid"}),
                  lambda: AutoML(tmp_path / "ws", search_schema={"properties": {}}, settings={"algorithm": "grid"},
                                 log_progress=False)):
        with pytest.raises(SettingsError) as caught:
            build()
        assert (caught.value.field, caught.value.value, caught.value.allowed) == (
            "automl_settings.algorithm", "grid", sorted(ALGORITHMS))
        assert str(caught.value).startswith("automl_settings.algorithm: unknown algorithm 'grid' (grid search is not "
                                            "offered: 'random' samples the same space"), str(caught.value)
    assert not (tmp_path / "ws").exists()
    assert all(AutoMLSettings.from_mapping({"algorithm": name}).algorithm == name for name in ALGORITHMS)
    with pytest.raises(SettingsError, match=r"unknown algorithm 'randon' \(did you mean 'random'\?\)"):
        AutoMLSettings.from_mapping({"algorithm": "randon"})


def test_a_metric_extractor_fetches_a_running_jobs_log_at_most_every_30_s(tmp_path: Path) -> None:
    """The extractor's log polls fetched the running job's log (2000 lines; a remote call on Kubernetes or Slurm over
    ssh) at every poll of every running job: 5 s by default, and poll_interval_s has no lower bound. They are now at
    most every EXTRACTOR_POLL_EVERY_S (30 s) per job: a 2 s job polled every 0.05 s has its log fetched once while
    it runs, and its metric still comes from the extractor on the ended job's log."""
    from tao_automl.platforms.base import JobStatus
    from tao_automl.platforms.local import LocalSDK
    from tao_automl.runner.loop import EXTRACTOR_POLL_EVERY_S

    fetched: list[bool] = []

    class CountingLogs(LocalSDK):
        def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
            fetched.append(JobStatus.parse(self.get_job_status(job_id)).is_finished())
            return super().get_job_logs(job_id, tail)

    _scored_run(tmp_path, CountingLogs, lambda logs, name: _last_score(logs), poll_interval_s=0.05)
    every, = readme_says(r"called on the running job's log at its first poll and then at most every (\d+) s")
    assert float(every) == EXTRACTOR_POLL_EVERY_S  # what README says
    assert fetched.count(False) == 1, fetched  # while it ran: its first poll only


def test_a_slow_metric_extractor_holds_up_no_status_poll(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The extractor's log polls ran on the sweep loop's thread: an extractor taking 1 s held up every status poll of
    every rec by 1 s whenever its poll was due (at most 3 status polls in a 2 s job polled every 0.1 s, its log poll
    due at each here). The log poll now runs on a thread of its own: the job is polled as often as without an
    extractor, and the extractor's number is still taken up and stored for a resume (`metric_polled`)."""
    import time

    from tao_automl.experiment.store import RunStore
    from tao_automl.platforms.base import JobStatus
    from tao_automl.platforms.local import LocalSDK
    from tao_automl.runner import loop

    monkeypatch.setattr(loop, "EXTRACTOR_POLL_EVERY_S", 0.0)
    polls: list[bool] = []

    class CountingPolls(LocalSDK):
        def get_job_status(self, job_id: str) -> JobStatus:
            status = JobStatus.parse(super().get_job_status(job_id))
            polls.append(status is JobStatus.RUNNING)
            return status

        def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:  # the end's call: its log gone
            return "" if JobStatus.parse(super().get_job_status(job_id)).is_finished() else super().get_job_logs(
                job_id, tail)

    def slow_score(logs: str, name: str) -> float | None:
        time.sleep(1.0)
        return _last_score(logs)

    # its 0.42 comes from a log poll: the ended job's log is gone
    _scored_run(tmp_path, CountingPolls, slow_score, poll_interval_s=0.1)
    assert polls.count(True) >= 8, polls  # a 2 s job polled every 0.1 s (3 at most with the extractor in the way)
    store = RunStore(next((tmp_path / "ws").glob("run_*")))
    try:
        assert [e["payload"]["value"] for e in store.events(loop.METRIC_POLLED)][-1] == 0.42
    finally:
        store.close()



def test_a_metric_extractor_that_hangs_on_an_ended_jobs_log_fails_its_rec_and_the_sweep_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The extractor's call on an ended job's log ran on the sweep loop's thread with no time limit: one that hung
    there (a user's bug, or a huge log) hung the whole sweep. That call now runs as a log poll does, on a thread of
    its own, waited for up to ENDED_LOG_READ_LIMIT_S (0.5 s here): each rec fails naming the extractor and the
    limit, and the sweep runs its other recs. Before, the first rec's end held the loop for the whole 20 s hang."""
    import threading
    import time

    from conftest import write_skill
    from tao_automl.platforms.base import JobStatus
    from tao_automl.platforms.local import LocalSDK
    from tao_automl.runner import AutoMLRunner, loop

    limit_s = loop.ENDED_LOG_READ_LIMIT_S
    monkeypatch.setattr(loop, "ENDED_LOG_READ_LIMIT_S", 0.5)
    released = threading.Event()

    class EndMarked(LocalSDK):
        def get_job_logs(self, job_id: str, tail: int | None = None) -> str | None:
            ended = JobStatus.parse(self.get_job_status(job_id)).is_finished()
            return (super().get_job_logs(job_id, tail) or "") + ("\nENDED" if ended else "")

    def hangs_once_ended(logs: str, name: str) -> float | None:
        if logs.endswith("ENDED"):
            released.wait(20)  # a hang (set free when the test ends)
        found = re.findall(r"score (\d+\.\d+)", logs)
        return float(found[-1]) if found else None

    skill = write_skill(tmp_path / "bank", trainer="print('score 0.42', flush=True)\n")
    started = time.monotonic()
    try:
        result = AutoMLRunner(EndMarked(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
            automl_settings={"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2,
                             "automl_fail_fast_after": 0, "poll_interval_s": 0.1}, workspace_path=tmp_path / "ws",
            gpu_count=0, metric_extractor=hangs_once_ended)
        took = time.monotonic() - started
    finally:
        released.set()
    recs = result["recommendations"]
    assert [r["status"] for r in recs] == ["failure", "failure"], recs
    for rec in recs:
        assert rec["metric_value"] is None
        assert "metric_extractor gave no answer on the ended job's log" in rec["message"], rec["message"]
        assert "within 0.5 s" in rec["message"], rec["message"]
    assert took < 15, took  # both recs' ends within their limit, not the 20 s hang each
    limit, = readme_says(r"one that has not answered within (\d+) s fails the rec")
    assert float(limit) == limit_s  # what README says


CRASH_AFTER_EPOCH_1 = textwrap.dedent(
    """
    import json, os, sys, yaml
    spec = yaml.safe_load(open(sys.argv[sys.argv.index("-e") + 1]))
    os.makedirs(spec["results_dir"], exist_ok=True)
    with open(os.path.join(spec["results_dir"], "status.json"), "a") as f:
        f.write(json.dumps({"epoch": 1, "max_epoch": 3, "kpi": {"val_acc": 0.4}}) + "\\n")
    sys.exit("CUDA error: an illegal memory access was encountered")  # crashes in epoch 2
    """
)


def test_a_rec_that_fails_after_its_first_epoch_is_recorded_at_the_epoch_it_reached(tmp_path: Path) -> None:
    """A 3-epoch job that wrote epoch 1's values to its status.json, then crashed, ended `failure` with
    `budget_reached` null, as if nothing was known of what it trained: README's `budget_reached` is where a rec was
    measured or stopped, and the views (`epochs_trained`) show a failed rec's budget_reached as the epochs it ran. It
    is now 1, in the run's result and in status; the failure keeps no metric."""
    from conftest import write_skill
    from tao_automl.experiment.lines import epochs_trained
    from tao_automl.platforms.local import LocalSDK
    from tao_automl.runner import AutoMLRunner
    from tao_automl.status import query_status

    skill = write_skill(tmp_path / "bank", trainer=CRASH_AFTER_EPOCH_1)
    result = AutoMLRunner(LocalSDK(jobs_dir=tmp_path / "jobs"), skill, log_progress=False).run(
        automl_settings={"algorithm": "random", "metric": "val_acc", "automl_max_recommendations": 1,
                         "automl_fail_fast_after": 0, "poll_interval_s": 0.2},
        spec_overrides={"train.num_epochs": 3}, workspace_path=tmp_path / "ws", gpu_count=0)
    rec = result["recommendations"][0]
    assert (rec["status"], rec["metric_value"], rec["budget"], rec["budget_reached"]) == ("failure", None, 3, 1), rec
    assert epochs_trained(rec) == 1
    stored = query_status(next((tmp_path / "ws").glob("run_*")), recs="all")["recommendations"][0]
    assert (stored["status"], stored["budget_reached"]) == ("failure", 1)


def test_a_log_poll_left_by_an_interrupted_sweep_is_never_stored_in_the_next_sweeps_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A round of polls notes the log polls it starts and takes their answers once all recs are polled; a Ctrl-C
    (or any error) in the middle of the round left those notes on the runner, and the same runner's next sweep, in
    another run, took them up in its first round: the old job's number was stored as a `metric_polled` event of the
    new run's rec with the same id (the number a resume after a kill takes for a job whose log is gone). The next
    sweep now starts with none: every number its store holds is one its own jobs' logs gave."""
    from conftest import write_skill
    from tao_automl.errors import SweepInterrupted
    from tao_automl.experiment.store import RunStore
    from tao_automl.platforms.base import JobStatus
    from tao_automl.platforms.local import LocalSDK
    from tao_automl.runner import AutoMLRunner, loop

    monkeypatch.setattr(loop, "EXTRACTOR_POLL_EVERY_S", 0.0)
    calls: dict[str, int] = {}
    interrupt = {"on": True}

    class CtrlCOnce(LocalSDK):  # Ctrl-C as the second job of the round is polled, its third poll
        def get_job_status(self, job_id: str) -> JobStatus:
            calls[job_id] = calls.get(job_id, 0) + 1
            if interrupt["on"] and len(calls) == 2 and job_id == list(calls)[1] and calls[job_id] == 3:
                interrupt["on"] = False
                raise KeyboardInterrupt
            return JobStatus.parse(super().get_job_status(job_id))

    first = {"on": True, "calls": 0}  # the first sweep's logs say a new number each poll; the second's say 0.77

    def score(logs: str, name: str) -> float | None:
        if "score" not in logs:
            return None
        first["calls"] += 1
        return 0.4 + 0.001 * first["calls"] if first["on"] else 0.77

    skill = write_skill(tmp_path / "bank", trainer=SCORE_PRINTER)
    runner = AutoMLRunner(CtrlCOnce(jobs_dir=tmp_path / "jobs"), skill, log_progress=False)
    settings = {"algorithm": "random", "metric": "val_loss", "automl_max_recommendations": 2,
                "automl_max_concurrent": 2, "poll_interval_s": 0.1}
    with pytest.raises(SweepInterrupted):
        runner.run(automl_settings=settings, workspace_path=tmp_path / "ws1", gpu_count=0, metric_extractor=score)
    first["on"] = False
    result = runner.run(automl_settings=settings, workspace_path=tmp_path / "ws2", gpu_count=0,
                        metric_extractor=score)
    assert [r["metric_value"] for r in result["recommendations"]] == [0.77, 0.77], result["recommendations"]
    store = RunStore(next((tmp_path / "ws2").glob("run_*")), readonly=True)
    try:
        polled = [(e["rec_id"], e["payload"]["value"]) for e in store.events(loop.METRIC_POLLED)]
    finally:
        store.close()
    assert polled and {value for _, value in polled} == {0.77}, polled
