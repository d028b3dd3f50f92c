"""Tree-structured Parzen estimator (Bergstra et al., 2011), multivariate, in numpy.

Successful observations are split at the ``gamma`` quantile into *good* and *bad*; a Parzen density is
built for each over the space's unit-cube encoding, candidates are drawn from the good density and the
one maximising ``log l(x) - log g(x)`` is proposed.

* **Kernels.** Each observation is one mixture component (plus one uniform prior component). Numeric
  coordinates get a Gaussian truncated to [0, 1] (bandwidth by Scott's rule, floored); a categorical
  param is a *categorical* distribution over its options (most mass on the observation's option, the
  rest spread evenly — Aitchison-Aitken); a bool is a categorical over {False, True}. Other encoded
  coordinates (lists, subsets) are numeric and snapped back by ``space.decode``.
* **Failures and batches.** Failed configs join the bad group (they are never good). Configs in
  flight, and picks made earlier in the same call, join it too ("constant liar"), so parallel
  proposals spread out.
* **Start.** Until ``n_initial`` successes exist (default ``n_params + 2``, 3..10), proposals are random.
* **No repeats.** A proposal is never a config that has run, is in flight or was picked earlier in the
  same call: the best-scoring *unused* candidate wins, and when every candidate is used a fresh one comes
  from :func:`~tao_automl.brain.classic.novelty.unused_config`. Only a finite space with every config
  used gets a repeat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp, ndtr
from scipy.stats import truncnorm

from tao_automl.brain.classic.novelty import Key, config_key, unused_config
from tao_automl.brain.multifidelity.successive_halving import check_count
from tao_automl.errors import SettingsError
from tao_automl.space.search_space import BoolParam, CategoricalParam, Config, SearchSpace

Array = NDArray[np.float64]


def default_n_initial(space: SearchSpace) -> int:
    """Random proposals before the model starts: ``n_params + 2``, between 3 and 10."""
    return min(10, max(3, len(space) + 2))


@dataclass(frozen=True)
class _Layout:
    """Which encoded columns are numeric, and the column blocks of categorical-like params."""

    numeric: NDArray[np.int64]
    blocks: tuple[tuple[int, int], ...]  # (offset, n_options); bool: (offset, 0) = one 0/1 column


def _layout(space: SearchSpace) -> _Layout:
    numeric: list[int] = []
    blocks: list[tuple[int, int]] = []
    offset = 0
    for p in space.params:
        if isinstance(p, CategoricalParam):
            blocks.append((offset, p.width))
        elif isinstance(p, BoolParam):
            blocks.append((offset, 0))
        else:
            numeric.extend(range(offset, offset + p.width))
        offset += p.width
    return _Layout(np.asarray(numeric, dtype=np.int64), tuple(blocks))


def _options(x: Array, block: tuple[int, int]) -> NDArray[np.int64]:
    """Option index of each row for one categorical-like block."""
    offset, k = block
    if k == 0:
        return np.asarray(x[:, offset] >= 0.5, dtype=np.int64)
    return np.asarray(np.argmax(x[:, offset : offset + k], axis=1), dtype=np.int64)


class Parzen:
    """A mixture of one kernel per observation plus a uniform prior component, on the unit cube."""

    def __init__(self, points: Array, layout: _Layout) -> None:
        self.points = points
        self.layout = layout
        n = len(points)
        self.log_w = np.full(n + 1, -math.log(n + 1))  # last component: the uniform prior
        d = max(1, len(layout.numeric))
        if n and len(layout.numeric):
            num = points[:, layout.numeric]
            std = np.std(np.vstack([num, np.full((1, num.shape[1]), 0.5)]), axis=0)
            floor = 0.05 if n >= 3 else 0.15
            self.sigma = np.clip(std * n ** (-1.0 / (d + 4)), floor, 0.5)
        else:
            self.sigma = np.zeros(0)
        self.eps = min(0.5, max(0.1, 1.0 / (n + 1)))

    def sample(self, m: int, rng: np.random.Generator, dim: int) -> Array:
        n = len(self.points)
        comp = rng.choice(n + 1, size=m, p=np.exp(self.log_w))
        out = rng.random((m, dim))
        from_obs = comp < n
        idx = comp[from_obs]
        if len(self.layout.numeric) and idx.size:
            mu = self.points[idx][:, self.layout.numeric]
            s = np.broadcast_to(self.sigma, mu.shape)
            draws = truncnorm.rvs((0.0 - mu) / s, (1.0 - mu) / s, loc=mu, scale=s, random_state=rng)
            block = out[from_obs]
            block[:, self.layout.numeric] = np.asarray(draws, dtype=float).reshape(mu.shape)
            out[from_obs] = block
        for offset, k in self.layout.blocks:
            width = max(k, 2)
            pick = rng.integers(width, size=m)  # prior component and "spread" draws: uniform
            if idx.size:
                own = _options(self.points, (offset, k))[idx]
                keep = rng.random(idx.size) >= self.eps
                sub = pick[from_obs]
                sub[keep] = own[keep]
                pick[from_obs] = sub
            if k == 0:
                out[:, offset] = pick.astype(float)
            else:
                out[:, offset : offset + k] = np.eye(k)[pick]
        return out

    def log_pdf(self, xs: Array) -> Array:
        n = len(self.points)
        comp = np.zeros((len(xs), n + 1))  # log density of each candidate under each component
        if n and len(self.layout.numeric):
            x = xs[:, self.layout.numeric][:, None, :]
            mu = self.points[:, self.layout.numeric][None, :, :]
            s = self.sigma[None, None, :]
            mass = ndtr((1.0 - mu) / s) - ndtr((0.0 - mu) / s)
            z = (x - mu) / s
            comp[:, :n] += np.sum(-0.5 * z**2 - np.log(s * math.sqrt(2 * math.pi) * np.maximum(mass, 1e-12)), axis=2)
        for offset, k in self.layout.blocks:
            width = max(k, 2)
            cand = _options(xs, (offset, k))
            if n:
                own = _options(self.points, (offset, k))
                same = cand[:, None] == own[None, :]
                p_other = self.eps / (width - 1) if width > 1 else 0.0
                comp[:, :n] += np.log(np.where(same, 1.0 - self.eps + (self.eps if width == 1 else 0.0),
                                               max(p_other, 1e-12)))
            comp[:, n] += -math.log(width)
        return np.asarray(logsumexp(comp + self.log_w[None, :], axis=1), dtype=float)


def tpe_propose(space: SearchSpace, configs: Sequence[Config], values: Sequence[float | None],
                liars: Sequence[Config], n: int, rng: np.random.Generator, *, gamma: float = 0.25,
                n_candidates: int = 64, taken: set[Key] | None = None) -> list[Config]:
    """``n`` configs from a TPE model of ``(configs, values)``; ``liars`` (in flight) count as bad.

    ``taken``: keys of configs that must not be proposed (default: ``configs`` and ``liars``); the picks
    are added to it.
    """
    if taken is None:
        taken = {config_key(space, c) for c in [*configs, *liars]}
    layout = _layout(space)
    # canonical order (by value, then encoding): the model does not depend on the order of observations
    enc = [space.encode(c) for c in configs]
    ok = sorted(((float(v), tuple(x)) for x, v in zip(enc, values, strict=True) if v is not None and math.isfinite(v)))
    failed = sorted(tuple(x) for x, v in zip(enc, values, strict=True) if v is None or not math.isfinite(v))
    n_good = max(1, min(25, math.ceil(gamma * len(ok))))
    good = np.asarray([x for _, x in ok[:n_good]], dtype=float).reshape(-1, space.dim)
    bad = [np.asarray(x) for _, x in ok[n_good:]] + [np.asarray(x) for x in failed]
    bad += [space.encode(c) for c in liars]
    l_model = Parzen(np.clip(good, 0.0, 1.0), layout)
    out: list[Config] = []
    for _ in range(n):
        g_model = Parzen(np.clip(np.asarray(bad, dtype=float).reshape(-1, space.dim), 0.0, 1.0), layout)
        cands = l_model.sample(n_candidates, rng, space.dim)
        configs_c = [space.decode(x) for x in cands]
        xs = np.asarray([space.encode(c) for c in configs_c], dtype=float)
        score = l_model.log_pdf(xs) - g_model.log_pdf(xs)
        fresh = [i for i in np.argsort(-score, kind="stable") if config_key(space, configs_c[i]) not in taken]
        if fresh:
            pick, x_pick = configs_c[fresh[0]], xs[fresh[0]]
        else:
            pick = unused_config(space, taken, rng)
            x_pick = np.asarray(space.encode(pick), dtype=float)
        taken.add(config_key(space, pick))
        out.append(pick)
        bad.append(x_pick)
    return out


class TPEBrain:
    """TPE as a classic brain (``suggest``/``observe``)."""

    def __init__(self, space: SearchSpace, *, n_initial: int | None = None, gamma: float = 0.25,
                 n_candidates: int = 64) -> None:
        self.space = space
        self.n_initial = default_n_initial(space) if n_initial is None else check_count("tpe option n_initial",
                                                                                         n_initial)
        if not (isinstance(gamma, (int, float)) and 0.0 < gamma < 1.0):
            raise SettingsError(f"tpe option gamma: {gamma!r} is not allowed; expected a number in (0, 1)")
        self.gamma = float(gamma)
        self.n_candidates = check_count("tpe option n_candidates", n_candidates)
        self._configs: list[Config] = []
        self._values: list[float | None] = []
        self._keys: set[Key] = set()

    def observe(self, config: Config, value: float | None) -> None:
        self._configs.append(dict(config))
        self._keys.add(config_key(self.space, config))
        self._values.append(value if value is not None and math.isfinite(value) else None)

    def suggest(self, n: int, pending: Sequence[Config], rng: np.random.Generator) -> list[Config]:
        taken = self._keys | {config_key(self.space, c) for c in pending}
        n_ok = sum(v is not None for v in self._values)
        if n_ok < self.n_initial:
            out: list[Config] = []
            for _ in range(n):
                out.append(unused_config(self.space, taken, rng))
                taken.add(config_key(self.space, out[-1]))
            return out
        return tpe_propose(self.space, self._configs, self._values, pending, n, rng, gamma=self.gamma,
                           n_candidates=self.n_candidates, taken=taken)
