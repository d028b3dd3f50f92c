"""Log expected improvement and its maximisation over the encoded search space.

Candidates are always *valid* encodings: every point is snapped (the vectorised equivalent of
``space.encode(space.decode(x))``) before it is scored, so a proposal never sits between two
categories, between two integers or at a fractional boolean.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special

from tao_automl.brain.classic.gp import FitInterrupted, GaussianProcess
from tao_automl.space.search_space import (
    BoolParam,
    CategoricalParam,
    FloatParam,
    IntGridParam,
    IntParam,
    ListParam,
    OptionalListParam,
    Param,
    SearchSpace,
    SubsetParam,
)

Array = NDArray[np.float64]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_HALF_LOG_PI_OVER_2 = 0.5 * math.log(math.pi / 2.0)
_TINY_Z = -1.0 / math.sqrt(np.finfo(float).eps)
#: L-BFGS-B iterations of the gradient refinement. Ten keep 99.7 % of the EI fifty reach (mean log-EI loss 0.003,
#: worst 0.065 over 80 acquisitions on 3- and 6-parameter spaces at 10-40 results) for 1.3 ms less per proposal.
REFINE_ITERATIONS = 10
#: Best candidates refined by gradient steps (``maximise_log_ei``'s default).
REFINE_STARTS = 3
#: Rows per piece of a :class:`CandidateBlock`: fixed, so that a block scored ahead (the bayesian brain's
#: ``prepare``) and one scored in the proposal are the same numbers, bit for bit (a BLAS product's rounding may
#: depend on its shape), and so that work done ahead can give way between pieces.
BLOCK_ROWS = 256


def _log1mexp(x: Array) -> Array:
    """``log(1 - exp(x))`` for ``x < 0``, accurate at both ends."""
    return np.where(x > -math.log(2.0), np.log(-np.expm1(np.minimum(x, -1e-300))), np.log1p(-np.exp(x)))


def _log_h_upper(z: Array) -> Array:
    out: Array = np.log(np.exp(-0.5 * z * z - _LOG_SQRT_2PI) + z * special.ndtr(z))
    return out


def _log_h_mid(z: Array) -> Array:
    out: Array = -0.5 * z * z - _LOG_SQRT_2PI + _log1mexp(
        np.log(special.erfcx(-z / math.sqrt(2.0)) * np.abs(z)) + _HALF_LOG_PI_OVER_2
    )
    return out


def log_h(z: Array) -> Array:
    """``log(phi(z) + z * Phi(z))``, stable down to z = -1e300 (Ament et al. 2023, "LogEI")."""
    z = np.maximum(np.asarray(z, dtype=float), -1e100)
    upper = z > -1.0
    mid = (~upper) & (z > _TINY_Z)
    # one branch for every point is the usual case in a refinement step (a few points near the best): no masks
    if upper.all():
        return _log_h_upper(z)
    if mid.all():
        return _log_h_mid(z)
    out = np.empty_like(z)
    out[upper] = _log_h_upper(z[upper])
    out[mid] = _log_h_mid(z[mid])
    low = ~(upper | mid)
    zl = z[low]
    out[low] = -0.5 * zl * zl - _LOG_SQRT_2PI - 2.0 * np.log(np.abs(zl))
    return out


def log_ei(mu: Array, var: Array, best: float, xi: float) -> Array:
    """Log expected improvement below ``best - xi`` (minimisation) of N(mu, var)."""
    sigma = np.sqrt(var)
    z = (best - xi - mu) / sigma
    return np.log(sigma) + log_h(z)


def log_ei_with_grad(gp: GaussianProcess, xs: Array, best: float, xi: float) -> tuple[Array, Array]:
    """Log EI at the rows of ``xs`` and its gradient in each row: (m,) and (m, d)."""
    mu, var, dmu, dvar = gp.predict_with_grad(xs)
    sigma = np.sqrt(var)
    z = (best - xi - mu) / sigma
    lh = log_h(z)
    dsigma = dvar / (2.0 * sigma)[:, None]
    dz = (-dmu - z[:, None] * dsigma) / sigma[:, None]
    dlh = np.exp(special.log_ndtr(z) - lh)  # d log h / dz = Phi(z) / h(z)
    return np.log(sigma) + lh, dsigma / sigma[:, None] + dlh[:, None] * dz


@dataclass(frozen=True)
class Snapper:
    """Vectorised ``encode(decode(x))`` for a :class:`SearchSpace`, and the coordinate kinds."""

    space: SearchSpace

    def __call__(self, x: Array) -> Array:
        x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0).copy()
        offset = 0
        for p in self.space.params:
            x[:, offset : offset + p.width] = _snap_block(p, x[:, offset : offset + p.width])
            offset += p.width
        return x

    def continuous_mask(self) -> NDArray[np.bool_]:
        """Coordinates a gradient step may move: numbers, list elements (ints re-snapped afterwards)."""
        mask: list[bool] = []
        for p in self.space.params:
            if isinstance(p, OptionalListParam):
                mask.extend([False] + [True] * p.inner.width)
            else:
                mask.extend([isinstance(p, (FloatParam, IntParam, IntGridParam, ListParam))] * p.width)
        return np.asarray(mask, dtype=bool)

    def perturb(self, x: Array, scale: float, rng: np.random.Generator) -> Array:
        """Gaussian steps on numeric coordinates; each categorical/bool/bit re-drawn with probability 0.2."""
        x = x.copy()
        offset = 0
        for p in self.space.params:
            if isinstance(p, (FloatParam, IntParam, IntGridParam, ListParam)):
                x[:, offset : offset + p.width] += rng.normal(0.0, scale, (len(x), p.width))
            elif isinstance(p, OptionalListParam):
                flip = rng.random(len(x)) < 0.2
                x[flip, offset] = 1.0 - x[flip, offset]
                x[:, offset + 1 : offset + p.width] += rng.normal(0.0, scale, (len(x), p.inner.width))
            elif isinstance(p, SubsetParam):
                flip = rng.random((len(x), p.width)) < 0.2
                block = x[:, offset : offset + p.width]
                block[flip] = 1.0 - block[flip]
            elif isinstance(p, CategoricalParam):
                flip = rng.random(len(x)) < 0.2
                picks = rng.integers(p.width, size=len(x))
                block = x[:, offset : offset + p.width]
                block[flip] = np.eye(p.width)[picks[flip]]
            else:
                flip = rng.random(len(x)) < 0.2
                x[flip, offset] = 1.0 - x[flip, offset]
            offset += p.width
        return self(x)


def _snap_block(p: Param, block: Array) -> Array:
    """Vectorised ``encode(decode(row))`` of one param's columns."""
    if isinstance(p, IntParam):
        return _snap_int(p, block[:, 0])[:, None]
    if isinstance(p, FloatParam):
        return np.full_like(block, 0.5) if p.low == p.high else block
    if isinstance(p, CategoricalParam):
        onehot = np.zeros_like(block)
        onehot[np.arange(len(block)), np.argmax(block, axis=1)] = 1.0
        return onehot
    if isinstance(p, BoolParam):
        return (block >= 0.5).astype(float)
    if isinstance(p, IntGridParam):
        return p.snap(block[:, 0])[:, None]
    if isinstance(p, SubsetParam):
        return p.snap(block)
    if isinstance(p, ListParam):
        cols = [_snap_block(e, block[:, i : i + 1]) for i, e in enumerate(p.elements)]
        return np.hstack(cols)
    on = block[:, :1] >= 0.5
    inner = np.where(on, _snap_block(p.inner, block[:, 1:]), 0.5)
    return np.hstack([on.astype(float), inner])


def _snap_int(p: IntParam, u: Array) -> Array:
    lo, hi = p._lo_hi()  # same cell layout as IntParam.decode/encode
    v = lo + u * (hi - lo)
    value = np.clip(np.rint(np.exp(v) if p.log else v), p.low, p.high)
    g = np.log(value) if p.log else value
    return np.asarray(np.clip((g - lo) / (hi - lo), 0.0, 1.0), dtype=float)


def unique_row_index(x: Array) -> NDArray[np.intp]:
    """Indices of the distinct rows of ``x`` (the first of equal rows) in the rows' lexicographic order, by one
    lexsort (about 4x faster than ``np.unique(x, axis=0)`` on a 1,000-row candidate set)."""
    if len(x) == 0:
        return np.arange(0)
    order = np.lexsort(x.T[::-1])
    ordered = x[order]
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    out: NDArray[np.intp] = order[keep]
    return out


def unique_rows(x: Array) -> Array:
    """The distinct rows of ``x`` in lexicographic order: what ``np.unique(x, axis=0)`` returns."""
    out: Array = x[unique_row_index(x)]
    return out


def uniform_candidates(snapper: Snapper, rng: np.random.Generator, n: int, lo: Array, hi: Array) -> Array:
    """``n`` uniform draws in the box ``[lo, hi]``, snapped: the acquisition's random candidates."""
    return snapper(lo + rng.random((n, len(lo))) * (hi - lo))


def local_candidates(snapper: Snapper, anchors: Array, rng: np.random.Generator, n_local: int, lo: Array,
                     hi: Array) -> Array:
    """``n_local`` perturbations of each anchor, half at step 0.02 and half at 0.1, snapped, inside ``[lo, hi]``:
    the acquisition's candidates near the best observed points."""
    parts = [snapper(np.clip(snapper.perturb(np.repeat(anchors, n_local // 2, axis=0), scale, rng), lo, hi))
             for scale in (0.02, 0.1) if len(anchors)]
    return np.vstack(parts) if parts else np.empty((0, len(lo)))


@dataclass(frozen=True)
class CandidateBlock:
    """Candidates with the parts of a GP's posterior there that do not depend on its targets: ``whitened`` rows
    (``L^-1 k``, see :meth:`GaussianProcess.whitened`) and the latent variance. A block depends on the GP's inputs,
    hyperparameters and noise only, so it can be scored before the newest result is known."""

    x: Array
    whitened: Array
    var: Array

    @classmethod
    def score(cls, gp: GaussianProcess, xs: Array, interrupt: Callable[[], bool] | None = None) -> CandidateBlock:
        """The block of ``xs`` under ``gp``, in pieces of ``BLOCK_ROWS`` rows; ``FitInterrupted`` once ``interrupt``
        answers True between pieces."""
        whitened, var = [], []
        for start in range(0, len(xs), BLOCK_ROWS):
            if interrupt is not None and interrupt():
                raise FitInterrupted("scoring candidates ahead was interrupted")
            v, s = gp.whitened(xs[start : start + BLOCK_ROWS])
            whitened.append(v)
            var.append(s)
        if not whitened:
            return cls(xs, np.empty((len(gp.x), 0)), np.empty(0))
        return cls(xs, np.hstack(whitened), np.concatenate(var))

    def mean(self, gp: GaussianProcess) -> Array:
        """Posterior mean at the block's rows for ``gp``'s targets (``gp`` conditioned on the block's inputs)."""
        mu: Array = gp.mean + gp.whitened_targets() @ self.whitened
        return mu


@dataclass(frozen=True)
class CandidatePool:
    """The candidates the acquisition scores before refining: ``uniform`` draws and ``local`` perturbations of the
    anchors, each a :class:`CandidateBlock` for a GP's inputs, and ``keep``, the distinct rows of both (in their
    lexicographic order). Like its blocks it does not depend on the GP's targets, so the whole pool can be drawn
    and scored before the newest result is known (the bayesian brain's ``prepare``)."""

    uniform: CandidateBlock
    local: CandidateBlock
    keep: NDArray[np.intp]

    @classmethod
    def draw(cls, gp: GaussianProcess, snapper: Snapper, anchors: Array, rng: np.random.Generator, *,
             n_random: int, n_local: int, lo: Array, hi: Array, uniform: CandidateBlock | None = None,
             interrupt: Callable[[], bool] | None = None) -> CandidatePool:
        """Draw from ``rng`` (uniform candidates first, unless ``uniform`` gives them already scored, then the
        anchors' perturbations) and score for ``gp``; ``FitInterrupted`` once ``interrupt`` answers True."""
        if uniform is None:
            uniform = CandidateBlock.score(gp, uniform_candidates(snapper, rng, n_random, lo, hi), interrupt)
        local = CandidateBlock.score(gp, local_candidates(snapper, anchors, rng, n_local, lo, hi), interrupt)
        return cls(uniform, local, unique_row_index(np.vstack([uniform.x, local.x])))

    @property
    def x(self) -> Array:
        """The distinct candidates."""
        out: Array = np.vstack([self.uniform.x, self.local.x])[self.keep]
        return out

    def posterior(self, gp: GaussianProcess) -> tuple[Array, Array]:
        """Posterior mean and latent variance at :attr:`x` for ``gp``'s targets."""
        mu = np.concatenate([self.uniform.mean(gp), self.local.mean(gp)])[self.keep]
        var = np.concatenate([self.uniform.var, self.local.var])[self.keep]
        return mu, var


def maximise_log_ei(
    gp: GaussianProcess,
    snapper: Snapper,
    best: float,
    xi: float,
    anchors: Array,
    rng: np.random.Generator,
    *,
    n_random: int = 1024,
    n_local: int = 64,
    n_refine: int | None = None,
    box: tuple[Array, Array] | None = None,
    pool: CandidatePool | None = None,
) -> tuple[Array, Array]:
    """Valid encoded candidates sorted by decreasing log EI, with their scores.

    Candidates: ``n_random`` uniform points, ``n_local`` perturbations of each anchor (the best
    observed points) at two step sizes, then L-BFGS-B refinements of the ``n_refine`` best ones
    on the numeric coordinates (the rest held fixed), re-snapped and re-scored. ``box`` (lower and
    upper corner, a trust region) confines every candidate and refinement to it. ``pool``: those uniform and local
    candidates already drawn from ``rng`` and scored for ``gp``'s inputs (:class:`CandidatePool`), e.g. ahead of the
    newest result; by default they are drawn and scored here, the same way.
    """
    dim = gp.dim
    lo, hi = box if box is not None else (np.zeros(dim), np.ones(dim))
    if pool is None:
        pool = CandidatePool.draw(gp, snapper, anchors, rng, n_random=n_random, n_local=n_local, lo=lo, hi=hi)
    cands = pool.x
    mu, var = pool.posterior(gp)
    scores = log_ei(mu, var, best, xi)
    mask = snapper.continuous_mask()
    n_refine = REFINE_STARTS if n_refine is None else n_refine
    if mask.any() and n_refine > 0:
        extra = snapper(_refine(gp, cands[np.argsort(-scores)[:n_refine]], mask, best, xi, lo, hi))
        mu, var = gp.predict(extra)
        cands = np.vstack([cands, extra])
        scores = np.concatenate([scores, log_ei(mu, var, best, xi)])
    order = np.argsort(-scores, kind="stable")
    return cands[order], scores[order]


def _refine(gp: GaussianProcess, starts: Array, mask: NDArray[np.bool_], best: float, xi: float, lo: Array,
            hi: Array) -> Array:
    """L-BFGS-B on the numeric coordinates of every start at once (the rest held fixed).

    The starts are optimised jointly on the sum of their log EIs, as BoTorch's batch optimiser does: the sum is
    separable, so its optimum is each start's own, and one solver run replaces one per start.
    """
    m, k = len(starts), int(mask.sum())
    xs = np.array(starts, dtype=float)  # the points evaluated: the fixed coordinates stay, the rest are z's

    def objective(z: Array) -> tuple[float, Array]:
        xs[:, mask] = z.reshape(m, k)
        values, grads = log_ei_with_grad(gp, xs, best, xi)
        bad = ~np.isfinite(values)
        grads[bad] = 0.0
        return -float(np.where(bad, -1e10, values).sum()), -grads[:, mask].ravel()

    # fmin_l_bfgs_b runs the same solver as minimize(method="L-BFGS-B") with these options (same iterates) without
    # minimize's dispatch: ~0.25 ms less per proposal, where this refinement is about half of a proposal's cost
    bounds = list(zip(np.tile(lo[mask], m), np.tile(hi[mask], m), strict=True))
    z, _, _ = optimize.fmin_l_bfgs_b(objective, starts[:, mask].ravel(), bounds=bounds, maxiter=REFINE_ITERATIONS,
                                     factr=1e-6 / np.finfo(float).eps)
    out: Array = np.array(starts, dtype=float)
    out[:, mask] = np.asarray(z, dtype=float).reshape(m, k)
    return out
