"""The built-in demo network: a numpy MLP on scikit-learn's digits, following the TAO container contract.

``tao-demo-digits train -e spec.yaml [key=value ...]`` reads a nested spec (missing keys take the defaults
of the bundled ``train.schema.json``), trains with SGD, appends TAO-style JSON lines to
``<results_dir>/status.json``, prints one line per epoch, writes checkpoints
``<results_dir>/train/model_epoch_<NNN>.npz`` and resumes from ``train.resume_training_checkpoint_path``
(or from the latest checkpoint already in ``<results_dir>/train``).
Exit codes: 0 success, 1 training failed (diverged), 2 bad spec / input / missing extra.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import json
import math
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from tao_automl.bank import builtin_skill_dir
from tao_automl.errors import UserInputError
from tao_automl.util.builtin import BUILTIN_DIGITS
from tao_automl.util.suggest import did_you_mean

Array = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEMO_EXTRA_HINT = "install the demo extra: pip install 'tao-run-automl[demo]'"
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu")
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
CHECKPOINT_RE = re.compile(r"^model_epoch_(\d+)\.npz$")
DIVERGED_LOSS = 1e3  # a cross-entropy this large means the weights blew up, even while still finite


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite."""


class MissingExtra(RuntimeError):
    """scikit-learn (the ``demo`` extra) is not installed."""


# --------------------------------------------------------------------------- spec


def default_spec() -> dict[str, Any]:
    """The full default spec: the ``default`` of the bundled train schema."""
    schema_path = builtin_skill_dir() / "schemas" / "train.schema.json"
    default: dict[str, Any] = json.loads(schema_path.read_text())["default"]
    return default


#: ``allowed`` of a ``dataset.train_path`` the trainer cannot read.
TRAIN_PATH_ALLOWED = f"{BUILTIN_DIGITS!r} or an .npz file with arrays X (n, features) and y (n,), n >= 2"


def read_spec_file(path: Path) -> dict[str, Any]:
    """Read a ``.yaml``/``.yml``/``.json`` spec file into a dict."""
    if path.suffix.lower() not in SPEC_SUFFIXES:
        raise UserInputError(
            f"spec file {str(path)!r}: unsupported extension; allowed: {', '.join(SPEC_SUFFIXES)}",
            field="spec file", value=str(path), allowed=list(SPEC_SUFFIXES))
    if not path.is_file():
        raise UserInputError(f"spec file {str(path)!r} does not exist", field="spec file", value=str(path),
                             allowed="an existing .yaml, .yml or .json file")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise UserInputError(f"spec file {str(path)!r} cannot be parsed: {exc}", field="spec file",
                             value=str(path), allowed="valid YAML or JSON") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserInputError(
            f"spec file {str(path)!r}: expected a mapping at the top level, got {type(data).__name__}",
            field="spec file", value=str(path), allowed="a mapping (key: value) at the top level")
    return data


def _leaf_keys(spec: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in spec.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            keys.extend(_leaf_keys(value, dotted + "."))
        else:
            keys.append(dotted)
    return keys


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_overrides(spec: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` command-line overrides (values parsed as YAML scalars)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserInputError(f"override {item!r}: expected key=value, e.g. train.num_epochs=5", field="override",
                                 value=item, allowed="key=value with a dotted key, e.g. train.num_epochs=5")
        nested: dict[str, Any] = {}
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw) if raw else ""
        spec = _merge(spec, nested)
    return spec


def resolve_spec(user: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with the user's spec; unknown keys are reported on stderr and ignored."""
    defaults = default_spec()
    known = _leaf_keys(defaults)
    for key in _leaf_keys(user):
        if key not in known and not any(k.startswith(key + ".") for k in known):
            print(f"WARNING: unknown spec key {key!r} is ignored{did_you_mean(key, known)}", file=sys.stderr)
    return _merge(defaults, user)


def _get(spec: Mapping[str, Any], key: str) -> Any:
    node: Any = spec
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise UserInputError(f"{key}: missing from the spec", field=key,
                                 allowed="a spec holding this key (the schema's default has it)")
        node = node[part]
    return node


def _as_int(spec: Mapping[str, Any], key: str, minimum: int) -> int:
    value = _get(spec, key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserInputError(f"{key}={value!r}: expected an integer >= {minimum}", field=key, value=value,
                             allowed=f"an integer >= {minimum}")
    return value


def _as_float(
    spec: Mapping[str, Any], key: str, low: float, high: float, *, low_open: bool, high_open: bool
) -> float:
    value = _get(spec, key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise UserInputError(f"{key}={value!r}: expected a number in {interval}", field=key, value=value,
                             allowed=f"a number in {interval}")
    return float(value)


def _as_bool(spec: Mapping[str, Any], key: str) -> bool:
    value = _get(spec, key)
    if not isinstance(value, bool):
        raise UserInputError(f"{key}={value!r}: expected true or false", field=key, value=value,
                             allowed=[True, False])
    return value


def _as_str(spec: Mapping[str, Any], key: str) -> str:
    value = _get(spec, key)
    if value is None:
        return ""
    if not isinstance(value, (str, os.PathLike)):
        raise UserInputError(f"{key}={value!r}: expected a string", field=key, value=value, allowed="a string")
    return str(value)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting the trainer uses, validated."""

    results_dir: Path
    train_path: str
    val_fraction: float
    split_seed: int
    hidden_units: int
    num_layers: int
    activation: str
    num_epochs: int
    batch_size: int
    seed: int
    checkpoint_interval: int
    resume_path: str
    lr: float
    momentum: float
    weight_decay: float
    nesterov: bool

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> TrainConfig:
        """Validate a resolved spec; every problem names the key, the value and what is allowed."""
        results_dir = _as_str(spec, "results_dir")
        if not results_dir:
            raise UserInputError(
                "results_dir is empty: set results_dir in the spec (where status.json and "
                "checkpoints are written)", field="results_dir", value="",
                allowed="a non-empty folder path")
        activation = _as_str(spec, "model.activation")
        if activation not in ACTIVATIONS:
            raise UserInputError(
                f"model.activation={activation!r}{did_you_mean(activation, ACTIVATIONS)}: "
                f"allowed: {', '.join(ACTIVATIONS)}", field="model.activation", value=activation,
                allowed=list(ACTIVATIONS))
        return cls(
            results_dir=Path(results_dir).expanduser(),
            train_path=_as_str(spec, "dataset.train_path") or BUILTIN_DIGITS,
            val_fraction=_as_float(spec, "dataset.val_fraction", 0.0, 1.0, low_open=True, high_open=True),
            split_seed=_as_int(spec, "dataset.split_seed", 0),
            hidden_units=_as_int(spec, "model.hidden_units", 1),
            num_layers=_as_int(spec, "model.num_layers", 1),
            activation=activation,
            num_epochs=_as_int(spec, "train.num_epochs", 1),
            batch_size=_as_int(spec, "train.batch_size", 1),
            seed=_as_int(spec, "train.seed", 0),
            checkpoint_interval=_as_int(spec, "train.checkpoint_interval", 1),
            resume_path=_as_str(spec, "train.resume_training_checkpoint_path"),
            lr=_as_float(spec, "train.optim.lr", 0.0, math.inf, low_open=True, high_open=True),
            momentum=_as_float(spec, "train.optim.momentum", 0.0, 1.0, low_open=False, high_open=True),
            weight_decay=_as_float(
                spec, "train.optim.weight_decay", 0.0, math.inf, low_open=False, high_open=True
            ),
            nesterov=_as_bool(spec, "train.optim.nesterov"),
        )

    @property
    def checkpoint_dir(self) -> Path:
        return self.results_dir / "train"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Data:
    """Standardised train / validation split."""

    x_train: Array
    y_train: Labels
    x_val: Array
    y_val: Labels
    num_classes: int


def load_arrays(train_path: str) -> tuple[Array, Labels]:
    """Features and integer labels (0..k-1) from ``builtin:digits`` or an ``.npz`` with arrays X and y."""
    if train_path == BUILTIN_DIGITS:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise MissingExtra(DEMO_EXTRA_HINT) from None
        bunch = load_digits()
        return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)
    path = Path(train_path).expanduser()
    if not path.is_file():
        raise UserInputError(
            f"dataset.train_path={train_path!r}: no such file (use {BUILTIN_DIGITS!r} or an .npz "
            "with arrays X and y)", field="dataset.train_path", value=train_path,
            allowed=TRAIN_PATH_ALLOWED)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ("X", "y") if k not in npz.files]
            if missing:
                raise UserInputError(
                    f"dataset.train_path={train_path!r}: missing array(s) {', '.join(missing)}; "
                    f"found: {', '.join(npz.files) or 'none'}", field="dataset.train_path", value=train_path,
                    allowed="an .npz file with arrays X and y")
            x_raw, y_raw = npz["X"], npz["y"]
    except (OSError, ValueError) as exc:
        raise UserInputError(f"dataset.train_path={train_path!r}: not a readable .npz file ({exc})",
                             field="dataset.train_path", value=train_path, allowed=TRAIN_PATH_ALLOWED) from None
    if x_raw.ndim != 2 or y_raw.ndim != 1 or len(x_raw) != len(y_raw) or len(y_raw) < 2:
        raise UserInputError(
            f"dataset.train_path={train_path!r}: expected X of shape (n, features) and y of shape "
            f"(n,) with n >= 2, got X{x_raw.shape} and y{y_raw.shape}", field="dataset.train_path",
            value=train_path, allowed="X of shape (n, features) and y of shape (n,), n >= 2")
    try:
        x = np.asarray(x_raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserInputError(
            f"dataset.train_path={train_path!r}: X must be numeric, got {x_raw.dtype}",
            field="dataset.train_path", value=train_path, allowed="a numeric X array") from None
    if not np.isfinite(x).all():
        raise UserInputError(f"dataset.train_path={train_path!r}: X holds NaN or infinite values",
                             field="dataset.train_path", value=train_path, allowed="an X of finite numbers")
    classes, y = np.unique(y_raw, return_inverse=True)
    if len(classes) < 2:
        raise UserInputError(f"dataset.train_path={train_path!r}: y must hold at least 2 classes",
                             field="dataset.train_path", value=train_path, allowed="a y with at least 2 classes")
    return x, y.astype(np.int64)


def split_data(x: Array, y: Labels, val_fraction: float, split_seed: int) -> Data:
    """Shuffle with ``split_seed``, hold out ``val_fraction``, standardise with the training statistics."""
    n = len(y)
    n_val = min(max(1, round(n * val_fraction)), n - 1)
    order = np.random.default_rng(split_seed).permutation(n)
    val_idx, train_idx = order[:n_val], order[n_val:]
    mean = x[train_idx].mean(axis=0)
    std = x[train_idx].std(axis=0)
    std[std < 1e-8] = 1.0
    xs = (x - mean) / std
    return Data(xs[train_idx], y[train_idx], xs[val_idx], y[val_idx], int(y.max()) + 1)


# --------------------------------------------------------------------------- model


@dataclass
class TrainState:
    """Everything needed to continue training: weights, momentum buffers, epoch, RNG and last KPIs."""

    weights: list[Array]
    biases: list[Array]
    vel_w: list[Array]
    vel_b: list[Array]
    epoch: int
    rng: np.random.Generator
    kpi: dict[str, float]


def layer_sizes(cfg: TrainConfig, num_features: int, num_classes: int) -> list[int]:
    return [num_features, *([cfg.hidden_units] * cfg.num_layers), num_classes]


def init_state(cfg: TrainConfig, sizes: Sequence[int]) -> TrainState:
    """He (relu-like) or LeCun (tanh, sigmoid) normal initialisation from ``train.seed``."""
    rng = np.random.default_rng(cfg.seed)
    gain = 2.0 if cfg.activation in ("relu", "leaky_relu") else 1.0
    weights = [
        rng.normal(0.0, math.sqrt(gain / fan_in), size=(fan_in, fan_out))
        for fan_in, fan_out in itertools.pairwise(sizes)
    ]
    biases = [np.zeros(fan_out) for fan_out in sizes[1:]]
    return TrainState(
        weights, biases, [np.zeros_like(w) for w in weights], [np.zeros_like(b) for b in biases], 0, rng, {}
    )


def activate(z: Array, name: str) -> Array:
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0.0, z, 0.01 * z)
    if name == "tanh":
        return np.tanh(z)
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid, overflow-free


def activation_grad(z: Array, a: Array, name: str) -> Array:
    if name == "relu":
        return (z > 0.0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0.0, 1.0, 0.01)
    if name == "tanh":
        return 1.0 - a * a
    return a * (1.0 - a)


def forward(state: TrainState, x: Array, activation: str) -> tuple[Array, list[Array], list[Array]]:
    """Logits plus the pre-activations and activations of every layer (for backprop)."""
    pre: list[Array] = []
    acts: list[Array] = [x]
    h = x
    last = len(state.weights) - 1
    for i, (w, b) in enumerate(zip(state.weights, state.biases, strict=True)):
        z = h @ w + b
        if i == last:
            return z, pre, acts
        h = activate(z, activation)
        pre.append(z)
        acts.append(h)
    raise AssertionError("network without layers")


def cross_entropy(logits: Array, y: Labels) -> tuple[float, Array]:
    """Mean softmax cross-entropy and the softmax probabilities."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[np.arange(len(y)), y].mean())
    return loss, np.exp(log_probs)


def gradients(
    state: TrainState, cfg: TrainConfig, x: Array, y: Labels
) -> tuple[float, list[Array], list[Array]]:
    """Batch loss and the gradients of (loss + weight_decay/2 * |W|^2) for every weight matrix and bias."""
    logits, pre, acts = forward(state, x, cfg.activation)
    loss, probs = cross_entropy(logits, y)
    delta = probs
    delta[np.arange(len(y)), y] -= 1.0
    delta /= len(y)
    grads_w: list[Array] = [np.empty(0)] * len(state.weights)
    grads_b: list[Array] = [np.empty(0)] * len(state.weights)
    for i in range(len(state.weights) - 1, -1, -1):
        grads_w[i] = acts[i].T @ delta + cfg.weight_decay * state.weights[i]
        grads_b[i] = delta.sum(axis=0)
        if i > 0:
            delta = (delta @ state.weights[i].T) * activation_grad(pre[i - 1], acts[i], cfg.activation)
    return loss, grads_w, grads_b


def sgd_step(state: TrainState, cfg: TrainConfig, x: Array, y: Labels) -> float:
    """One mini-batch of SGD with (PyTorch-style, optionally Nesterov) momentum; returns the batch loss."""
    loss, grads_w, grads_b = gradients(state, cfg, x, y)
    pairs = zip(state.weights + state.biases, state.vel_w + state.vel_b, grads_w + grads_b, strict=True)
    for param, vel, grad in pairs:
        vel *= cfg.momentum
        vel += grad
        param -= cfg.lr * (grad + cfg.momentum * vel if cfg.nesterov else vel)
    return loss


def train_epoch(state: TrainState, cfg: TrainConfig, data: Data) -> float:
    """One pass over the shuffled training set; returns the mean training loss (NaN stops the pass early)."""
    order = state.rng.permutation(len(data.y_train))
    total = 0.0
    for start in range(0, len(order), cfg.batch_size):
        idx = order[start : start + cfg.batch_size]
        loss = sgd_step(state, cfg, data.x_train[idx], data.y_train[idx])
        if not math.isfinite(loss):
            return loss
        total += loss * len(idx)
    return total / len(order)


def evaluate(state: TrainState, cfg: TrainConfig, x: Array, y: Labels) -> tuple[float, float]:
    """Loss and accuracy on ``(x, y)``."""
    logits, _, _ = forward(state, x, cfg.activation)
    loss, _ = cross_entropy(logits, y)
    accuracy = float((logits.argmax(axis=1) == y).mean()) if np.isfinite(logits).all() else math.nan
    return loss, accuracy


# --------------------------------------------------------------------------- checkpoints


def checkpoint_path(cfg: TrainConfig, epoch: int) -> Path:
    return cfg.checkpoint_dir / f"model_epoch_{epoch:03d}.npz"


def latest_checkpoint(directory: Path) -> Path | None:
    """The checkpoint with the highest epoch in ``directory``, or None."""
    if not directory.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := CHECKPOINT_RE.match(p.name))]
    return max(found)[1] if found else None


def save_checkpoint(path: Path, state: TrainState, cfg: TrainConfig, sizes: Sequence[int]) -> None:
    """Write the checkpoint atomically (temporary file in the same folder, then rename)."""
    meta = {
        "format": "demo-digits-mlp/1",
        "epoch": state.epoch,
        "layer_sizes": list(sizes),
        "activation": cfg.activation,
        "kpi": state.kpi,
        "rng_state": state.rng.bit_generator.state,
    }
    arrays: dict[str, Any] = {"meta": np.array(json.dumps(meta))}
    for i in range(len(state.weights)):
        arrays[f"weight_{i}"] = state.weights[i]
        arrays[f"bias_{i}"] = state.biases[i]
        arrays[f"momentum_weight_{i}"] = state.vel_w[i]
        arrays[f"momentum_bias_{i}"] = state.vel_b[i]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: Path, cfg: TrainConfig, sizes: Sequence[int]) -> TrainState:
    """Load a checkpoint written by :func:`save_checkpoint`; it must match the configured network."""
    key = "train.resume_training_checkpoint_path"
    if not path.is_file():
        raise UserInputError(f"{key}={str(path)!r}: checkpoint file does not exist", field=key, value=str(path),
                             allowed="an existing checkpoint written by this trainer")
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            n = len(meta["layer_sizes"]) - 1
            arrays = {name: np.array(npz[name], dtype=np.float64) for name in npz.files if name != "meta"}
        weights = [arrays[f"weight_{i}"] for i in range(n)]
        biases = [arrays[f"bias_{i}"] for i in range(n)]
        vel_w = [arrays[f"momentum_weight_{i}"] for i in range(n)]
        vel_b = [arrays[f"momentum_bias_{i}"] for i in range(n)]
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["rng_state"]
        epoch = int(meta["epoch"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserInputError(f"{key}={str(path)!r}: not a demo-digits-mlp checkpoint ({exc})", field=key,
                             value=str(path), allowed="a checkpoint written by this trainer") from None
    if list(meta["layer_sizes"]) != list(sizes) or meta["activation"] != cfg.activation:
        raise UserInputError(
            f"{key}={str(path)!r}: checkpoint network (layer sizes {meta['layer_sizes']}, activation "
            f"{meta['activation']}) does not match the spec (layer sizes {list(sizes)}, "
            f"activation {cfg.activation})", field=key, value=str(path),
            allowed="a checkpoint of the same layer sizes and activation as the spec")
    kpi = {str(k): float(v) for k, v in (meta.get("kpi") or {}).items() if v is not None}
    return TrainState(weights, biases, vel_w, vel_b, epoch, rng, kpi)


# --------------------------------------------------------------------------- status.json


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


class StatusFile:
    """Appends TAO-style JSON lines (one object per line) to ``<results_dir>/status.json``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, status: str, message: str, verbosity: str = "INFO", **fields: Any) -> None:
        now = datetime.now()
        record: dict[str, Any] = {k: v for k, v in fields.items() if k != "kpi"}
        record.update(
            date=f"{now.month}/{now.day}/{now.year}",
            time=f"{now.hour}:{now.minute}:{now.second}",
            status=status,
            verbosity=verbosity,
            message=message,
        )
        if "kpi" in fields:
            record["kpi"] = {k: _finite_or_none(float(v)) for k, v in fields["kpi"].items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, allow_nan=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


# --------------------------------------------------------------------------- training loop


def kpi_text(kpi: Mapping[str, float]) -> str:
    """``val_loss=0.41 val_accuracy=0.9722222222222222``: each value in full (the shortest text that reads back as
    it), as the runner reads it from the log when it finds no status.json; 6 digits read 0.9999996 as ``1``."""
    return " ".join(f"{k}={float(v)!r}" for k, v in kpi.items())


def resume_source(cfg: TrainConfig) -> Path | None:
    """The checkpoint to resume from: the spec's path, else the latest one in ``results_dir/train``."""
    if cfg.resume_path:
        return Path(cfg.resume_path).expanduser()
    return latest_checkpoint(cfg.checkpoint_dir)


def diverged(kpi: Mapping[str, float]) -> bool:
    """True when a KPI is NaN/inf or a loss exceeds :data:`DIVERGED_LOSS`."""
    if not all(math.isfinite(v) for v in kpi.values()):
        return True
    return any(v > DIVERGED_LOSS for k, v in kpi.items() if k.endswith("loss"))


def train(cfg: TrainConfig, status: StatusFile) -> None:
    """Run (or continue) training up to ``cfg.num_epochs``; raises on bad input or divergence."""
    data = split_data(*load_arrays(cfg.train_path), cfg.val_fraction, cfg.split_seed)
    sizes = layer_sizes(cfg, data.x_train.shape[1], data.num_classes)
    source = resume_source(cfg)
    state = load_checkpoint(source, cfg, sizes) if source else init_state(cfg, sizes)
    if source:
        print(f"Resuming from {source} (epoch {state.epoch})", flush=True)
    if state.epoch >= cfg.num_epochs:
        message = (
            f"Checkpoint is at epoch {state.epoch} >= train.num_epochs={cfg.num_epochs}; nothing to train"
        )
        print(message, flush=True)
        status.write("RUNNING", message, epoch=state.epoch, max_epoch=cfg.num_epochs, kpi=state.kpi)
        return
    started = time.monotonic()
    first_epoch = state.epoch + 1
    for epoch in range(first_epoch, cfg.num_epochs + 1):
        epoch_start = time.monotonic()
        with np.errstate(all="ignore"):
            train_loss = train_epoch(state, cfg, data)
            val_loss, val_accuracy = evaluate(state, cfg, data.x_val, data.y_val)
        state.epoch = epoch
        state.kpi = {"val_loss": val_loss, "val_accuracy": val_accuracy, "train_loss": train_loss}
        print(f"Epoch {epoch}/{cfg.num_epochs}: {kpi_text(state.kpi)}", flush=True)
        elapsed = time.monotonic() - epoch_start
        eta = (time.monotonic() - started) / (epoch - first_epoch + 1) * (cfg.num_epochs - epoch)
        status.write(
            "RUNNING",
            f"Epoch {epoch} done",
            epoch=epoch,
            max_epoch=cfg.num_epochs,
            time_per_epoch=str(timedelta(seconds=elapsed)),
            eta=str(timedelta(seconds=round(eta))),
            kpi=state.kpi,
        )
        if diverged(state.kpi):
            raise TrainingDiverged(
                f"training diverged at epoch {epoch} ({kpi_text(state.kpi)}); "
                f"try a smaller train.optim.lr (now {cfg.lr})"
            )
        if epoch % cfg.checkpoint_interval == 0 or epoch == cfg.num_epochs:
            save_checkpoint(checkpoint_path(cfg, epoch), state, cfg, sizes)


def run(cfg: TrainConfig) -> int:
    """Train with status.json bookkeeping; returns the process exit code."""
    try:
        cfg.results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"ERROR: results_dir={str(cfg.results_dir)!r} cannot be created: {exc}", file=sys.stderr)
        return EXIT_USAGE
    status = StatusFile(cfg.results_dir / "status.json")
    status.write("STARTED", "Starting Training Loop.")
    try:
        train(cfg, status)
    except (UserInputError, MissingExtra) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        status.write("FAILURE", str(exc), verbosity="ERROR")
        return EXIT_USAGE
    except TrainingDiverged as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        status.write("FAILURE", str(exc), verbosity="ERROR")
        return EXIT_FAILED
    status.write("SUCCESS", "Training finished successfully.")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tao-demo-digits", description=__doc__.split("\n")[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="action", required=True)
    train_p = sub.add_parser("train", help="train the MLP described by a spec file")
    train_p.add_argument(
        "-e", "--experiment_spec_file", required=True, type=Path, help="spec file (.yaml/.yml/.json)"
    )
    train_p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="spec overrides, e.g. train.num_epochs=5"
    )
    return parser


def single_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Run BLAS on one thread while training (tiny matrices: threads add overhead and fight parallel recs).

    A no-op when the user set ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` or when
    threadpoolctl (a scikit-learn dependency) is not installed.
    """
    if any(name in os.environ for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")):
        return contextlib.nullcontext()
    try:
        from threadpoolctl import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
            threadpool_limits,
        )
    except ImportError:
        return contextlib.nullcontext()
    limiter: contextlib.AbstractContextManager[Any] = threadpool_limits(limits=1, user_api="blas")
    return limiter


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``tao-demo-digits train -e <spec> [key=value ...]``."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        spec = resolve_spec(apply_overrides(read_spec_file(args.experiment_spec_file), args.overrides))
        cfg = TrainConfig.from_spec(spec)
    except UserInputError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with single_blas_thread():
        return run(cfg)


if __name__ == "__main__":
    sys.exit(main())
