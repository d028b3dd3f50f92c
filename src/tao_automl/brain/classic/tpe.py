"""Tree-structured Parzen estimator (Bergstra et al., 2011), multivariate, in numpy.

Successful observations are split into *good* (the best ``ceil(gamma * n)``, at most 25; ``gamma`` = 0.1)
and *bad*; a Parzen density is built for each over the space's unit-cube encoding, ``n_candidates`` (24)
candidates are drawn from the good density and the one maximising ``log l(x) - log g(x)`` is proposed.

* **Kernels.** Each observation is one mixture component, and a *prior* component (weight
  ``PRIOR_WEIGHT``, as much as one observation) keeps every region reachable. Numeric coordinates get a
  Gaussian truncated to [0, 1] whose width, per observation and coordinate, is the larger gap to its
  sorted neighbours (the outermost observations use their inner gap), clipped to ``[1 / (n + 2), 1]``:
  tight where observations crowd, wide where they are sparse; the prior is a Gaussian of width 1 at the
  centre. A categorical param is a categorical distribution per observation: its own option gets one
  unit of mass plus ``PRIOR_WEIGHT / (n + 1)``, every option that share; a bool is a categorical over
  {False, True}; the prior is uniform. Other encoded coordinates (lists, subsets) are numeric and snapped
  back by ``space.decode``; integers are modelled on their cells (``space.encode``) and snapped the same way.
* **Failures and batches.** Failed configs join the bad group (they are never good). Configs in
  flight, and picks made earlier in the same call, join it too ("constant liar"), so parallel
  proposals spread out.
* **Start.** Until ``n_initial`` successes exist (default ``N_INITIAL`` = 6), proposals are random and
  spread: each is the farthest (from every config that ran, is in flight or was just picked) of
  ``START_CANDIDATES`` unused random configs.
* **No repeats.** A proposal is never a config that has run, is in flight or was picked earlier in the
  same call: the best-scoring *unused* candidate wins, and when every candidate is used a fresh one comes
  from :func:`~tao_automl.brain.classic.novelty.unused_config`. Only a finite space with every config
  used gets a repeat.

Defaults were chosen on the tuning half of ``benchmarks/suite.py`` (see benchmarks/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp, ndtr, ndtri

from tao_automl.brain.classic.novelty import Key, config_key, unused_config
from tao_automl.brain.multifidelity.successive_halving import check_count
from tao_automl.errors import SettingsError
from tao_automl.space.search_space import BoolParam, CategoricalParam, Config, SearchSpace

Array = NDArray[np.float64]

GAMMA = 0.1
MAX_GOOD = 25
N_CANDIDATES = 24
N_INITIAL = 6
START_CANDIDATES = 4
PRIOR_WEIGHT = 1.0


def default_n_initial(space: SearchSpace) -> int:
    """Random proposals before the model starts (``N_INITIAL``, whatever the space)."""
    return N_INITIAL


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


def _width(k: int) -> int:
    """Options of a categorical-like block: a bool (``k == 0``, one column) has two, a one-hot block ``k``."""
    return 2 if k == 0 else k


def neighbour_widths(num: Array) -> Array:
    """Kernel width per point (row) and coordinate (column) of points in [0, 1]: the larger gap to the
    sorted neighbours (0 and 1 bound the ends; with two or more points the outermost use their inner
    gap), clipped to ``[1 / (n + 2), 1]`` (the lower end at most 1/100)."""
    n, m = num.shape
    if n == 0:
        return np.zeros((0, m))
    order = np.argsort(num, axis=0, kind="stable")
    s = np.take_along_axis(num, order, axis=0)
    ext = np.vstack([np.zeros((1, m)), s, np.ones((1, m))])
    gaps = np.maximum(s - ext[:-2], ext[2:] - s)
    if n >= 2:
        gaps[0] = ext[2] - ext[1]
        gaps[-1] = ext[-2] - ext[-3]
    out = np.empty_like(gaps)
    np.put_along_axis(out, order, gaps, axis=0)
    return np.asarray(np.clip(out, 1.0 / min(100.0, n + 2.0), 1.0), dtype=float)


class Parzen:
    """A mixture of one kernel per observation plus a broad prior component, on the unit cube."""

    def __init__(self, points: Array, layout: _Layout) -> None:
        self.points = points
        self.layout = layout
        n = len(points)
        w = np.append(np.ones(n), PRIOR_WEIGHT)
        self.log_w = np.log(w / w.sum())
        m = len(layout.numeric)
        num = points[:, layout.numeric] if m else np.zeros((n, 0))
        self.mu = np.vstack([num, np.full((1, m), 0.5)])  # last row: the prior
        self.sigma = np.vstack([neighbour_widths(num), np.ones((1, m))])
        self.cdf_lo = ndtr((0.0 - self.mu) / self.sigma)
        self.mass = np.maximum(ndtr((1.0 - self.mu) / self.sigma) - self.cdf_lo, 1e-300)
        self.share = PRIOR_WEIGHT / (n + 1)
        self.own = [_options(points, b) for b in layout.blocks]

    def _p_own_other(self, width: int) -> tuple[float, float]:
        """Probability of an observation's own option and of each other one."""
        total = 1.0 + width * self.share
        return (1.0 + self.share) / total, self.share / total

    def sample(self, m: int, rng: np.random.Generator, dim: int) -> Array:
        n = len(self.points)
        comp = rng.choice(n + 1, size=m, p=np.exp(self.log_w))
        out = rng.random((m, dim))
        if len(self.layout.numeric):  # inverse-CDF draws from each chosen truncated Gaussian
            u = self.cdf_lo[comp] + rng.random((m, len(self.layout.numeric))) * self.mass[comp]
            x = self.mu[comp] + self.sigma[comp] * ndtri(np.clip(u, 1e-300, 1.0 - 1e-16))
            out[:, self.layout.numeric] = np.clip(x, 0.0, 1.0)
        from_obs = comp < n
        for (offset, k), own in zip(self.layout.blocks, self.own, strict=True):
            width = _width(k)
            pick = rng.integers(width, size=m)  # uniform; an observation's draw keeps its own option
            if from_obs.any():  # with the extra probability p_own - p_other
                p_own, p_other = self._p_own_other(width)
                keep = rng.random(int(from_obs.sum())) < p_own - p_other
                sub = pick[from_obs]
                sub[keep] = own[comp[from_obs]][keep]
                pick[from_obs] = sub
            if k == 0:
                out[:, offset] = pick.astype(float)
            else:
                out[:, offset : offset + k] = np.eye(k)[pick]
        return out

    def log_pdf(self, xs: Array) -> Array:
        n = len(self.points)
        comp = np.zeros((len(xs), n + 1))  # log density of each candidate under each component
        if len(self.layout.numeric):
            z = (xs[:, self.layout.numeric][:, None, :] - self.mu[None]) / self.sigma[None]
            norm = np.log(self.sigma * math.sqrt(2 * math.pi) * self.mass)
            comp += np.sum(-0.5 * z**2 - norm[None], axis=2)
        for (offset, k), own in zip(self.layout.blocks, self.own, strict=True):
            width = _width(k)
            if n:
                p_own, p_other = self._p_own_other(width)
                same = _options(xs, (offset, k))[:, None] == own[None, :]
                comp[:, :n] += np.log(np.where(same, p_own, p_other))
            comp[:, n] -= math.log(width)
        return np.asarray(logsumexp(comp + self.log_w[None, :], axis=1), dtype=float)


def tpe_propose(space: SearchSpace, configs: Sequence[Config], values: Sequence[float | None],
                liars: Sequence[Config], n: int, rng: np.random.Generator, *, gamma: float = GAMMA,
                n_candidates: int = N_CANDIDATES, taken: set[Key] | None = None) -> list[Config]:
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
    n_good = max(1, min(MAX_GOOD, math.ceil(gamma * len(ok))))
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


def spread_start(space: SearchSpace, used: Sequence[Config], n: int, rng: np.random.Generator,
                 taken: set[Key], k: int = START_CANDIDATES) -> list[Config]:
    """``n`` unused random configs, each the farthest of ``k`` draws from ``used`` and the earlier picks
    (squared distance in the unit-cube encoding to the nearest one); the picks are added to ``taken``."""
    points = [np.asarray(space.encode(c), dtype=float) for c in used]
    out: list[Config] = []
    for _ in range(n):
        cands = [unused_config(space, taken, rng) for _ in range(k)]
        pick = cands[0]
        if points and k > 1:
            xs = np.asarray([space.encode(c) for c in cands], dtype=float)
            near = np.min(np.sum((xs[:, None, :] - np.asarray(points)[None, :, :]) ** 2, axis=2), axis=1)
            pick = cands[int(np.argmax(near))]
        out.append(pick)
        points.append(np.asarray(space.encode(pick), dtype=float))
        taken.add(config_key(space, pick))
    return out


class TPEBrain:
    """TPE as a classic brain (``suggest``/``observe``)."""

    def __init__(self, space: SearchSpace, *, n_initial: int | None = None, gamma: float = GAMMA,
                 n_candidates: int = N_CANDIDATES) -> None:
        self.space = space
        self.n_initial = default_n_initial(space) if n_initial is None else check_count("tpe option n_initial",
                                                                                         n_initial)
        if not (isinstance(gamma, (int, float)) and 0.0 < gamma < 1.0):
            raise SettingsError(f"tpe option gamma: {gamma!r} is not allowed; expected a number in (0, 1)",
                                field="tpe option gamma", value=gamma, allowed="a number in (0, 1)")
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
            return spread_start(self.space, [*self._configs, *pending], n, rng, taken)
        return tpe_propose(self.space, self._configs, self._values, pending, n, rng, gamma=self.gamma,
                           n_candidates=self.n_candidates, taken=taken)
