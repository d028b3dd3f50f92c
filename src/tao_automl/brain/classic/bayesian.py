"""Gaussian-process Bayesian optimisation: the default brain.

* **Initial design.** Until ``n_initial`` configs have been observed or are in flight, proposals
  come from the first ``2**k`` points of a scrambled Sobol sequence (seeded from the caller's generator;
  ``2**k`` the smallest power of two >= the design size, or >= the points in use plus those asked for when that
  is more), snapped to valid configs, picked greedily to be far from every observed, pending and already-chosen
  point; the same space-filling picks continue while no rec has succeeded yet. The pool is that small on
  purpose: the farthest few of a large pool sit on the cube's faces and corners in many dimensions. The default
  ``n_initial`` is ``min(8, max(3, n_params // 2 + 2))``: recs cost GPU-hours and budgets are 10-50, so the model
  takes over early (5 for a 7-parameter space), while the length-scale prior keeps the first fits sane.
* **Model.** :mod:`tao_automl.brain.classic.gp` on the unit-cube encoding (Matern-5/2, ARD, constant mean,
  noise). A proposal made with ``n`` results conditions the GP on all ``n`` with MAP hyperparameters fitted on the
  first ``n - 1``: the runner has :meth:`BayesianBrain.prepare` fit those while the newest rec's job runs, so the
  fit is not paid between a result and the next launch. Every fit is a function of the results alone (starts from
  generators seeded by the result count), so a run reopened from its store, or driven by ask/tell without
  ``prepare``, proposes exactly what the uninterrupted run proposes. Fresh fits (default and random restarts below
  20 results, a warm start from an *anchor* fit on the first multiple of ``ANCHOR_EVERY`` results from 20 on) run on
  every ``REFIT_EVERY``-th result count and below 8; in between one run warm-starts from the previous count's fit.
  The fit effort shrinks as data grows (fewer restarts and iterations; hyperparameters are fitted on at most
  ``max_fit_points`` points: the best quarter plus a random rest).
* **Outputs.** Successful values are standardised and, when heavy-tailed, Yeo-Johnson warped
  (:func:`tao_automl.brain.classic.gp.warp_outputs`; monotone, so ranks are kept).
* **Failures.** A failed rec (``None``, NaN or inf) is imputed at the worst successful value plus
  half a standard deviation of the warped values, so the model steers away from it; it never counts
  as the incumbent, and the warp is fitted on successes only.
* **Acquisition.** Log expected improvement (:mod:`tao_automl.brain.classic.acquisition`), maximised over
  valid encodings only (no proposal between categories). Spaces of ``TRUST_REGION_MIN_PARAMS`` (10) or more
  params maximise it inside a trust region around the incumbent (TuRBO-style box, side 0.8 scaled by the
  length scales) instead of the whole cube.
* **Stall safeguard.** When the last ``STALL_AFTER`` (2) results past the initial design all stayed within
  ``STALL_RADIUS`` of the incumbent without beating it, the next proposal is a uniform random config: on a noisy
  objective the incumbent is often a lucky value, and the model would keep probing its neighbourhood.
* **Batches.** Pending configs and the picks made earlier in the same call are fantasised at the
  posterior mean ("kriging believer") as near-noise-free observations, so parallel recs spread out.
  A proposal never repeats an observed, pending or already-chosen config; only when a finite
  space (all categorical/bool/int) has no unused config left is a duplicate returned.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import qmc

from tao_automl.brain.base import Upcoming
from tao_automl.brain.classic import gp as gpmod
from tao_automl.brain.classic.acquisition import (
    CandidateBlock,
    CandidatePool,
    Snapper,
    maximise_log_ei,
    uniform_candidates,
)
from tao_automl.brain.classic.gp import GaussianProcess
from tao_automl.brain.classic.novelty import config_key as config_key
from tao_automl.brain.classic.novelty import unused_config
from tao_automl.errors import SearchSpaceError, SettingsError
from tao_automl.space.search_space import CategoricalParam, Config, SearchSpace
from tao_automl.util.interrupts import interrupts_held

Array = NDArray[np.float64]


#: Spaces with at least this many params search EI only inside a trust region around the incumbent (tuning split:
#: Ackley-10 27.9 vs 21.9 at 16x1 and 22.8 vs 10.6 at 16x4; Rosenbrock-10-int level; side 0.4 or 0.2 was worse).
TRUST_REGION_MIN_PARAMS = 10
TRUST_REGION_LENGTH = 0.8
#: From 20 results on, each fresh hyperparameter fit is warm-started from the fit on the first multiple of this many.
ANCHOR_EVERY = 16
#: From 8 results on, the hyperparameters are fitted afresh on every multiple of this many results; in between, one
#: run warm-started from the previous count's fit.
REFIT_EVERY = 4
#: Perturbations of each anchor among the acquisition's candidates.
N_LOCAL = 64
#: Stall safeguard: when the last ``STALL_AFTER`` results (past the initial design) all failed to improve on the
#: incumbent and all lay within ``STALL_RADIUS`` (root-mean-square distance in the unit cube) of it, the next
#: proposal is a uniform random config (model-free) instead of the acquisition's pick; 0 turns it off. (Noisy
#: objectives: the model kept exploiting the neighbourhood of one lucky value; benchmarks/README.md.)
STALL_AFTER = 2
STALL_RADIUS = 0.15


@dataclass(frozen=True)
class _Ahead:
    """What ``prepare`` computed for the next proposal, guessing that the oldest config in flight ends first: the
    Cholesky factor of the GP on every result it will have (``x``, ``theta``), and its candidates drawn with the
    generator state it will get and scored for the GP it will search (``searched``: that GP conditioned on the other
    configs in flight): the uniform ones (``block``; generator state before and after their draw), and, guessing too
    that the newest result does not join the best few (the ``anchors`` searched around), the whole pool with the
    anchors' perturbations (``pool``, None until scored; generator state after it, ``rng_after_pool``)."""

    key: tuple[Any, ...]
    x: Array
    theta: Array
    chol: Array
    rng_before: Mapping[str, Any]
    rng_after: Mapping[str, Any]
    block: CandidateBlock
    anchors: Array
    searched: GaussianProcess
    pool: CandidatePool | None = None
    rng_after_pool: Mapping[str, Any] | None = None

    def fitted_for(self, x: Array, theta: Array) -> bool:
        return bool(np.array_equal(self.x, x) and np.array_equal(self.theta, theta))

    def scored_for(self, gp: GaussianProcess, rng: np.random.Generator) -> bool:
        return bool(self.rng_before == rng.bit_generator.state and np.array_equal(self.searched.x, gp.x)
                    and np.array_equal(self.theta, gp.theta) and np.array_equal(self.searched.chol, gp.chol))


def default_n_initial(space: SearchSpace) -> int:
    """Initial-design size: ``min(8, max(3, n_params // 2 + 2))``."""
    return min(8, max(3, len(space) // 2 + 2))


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        return importlib.import_module("threadpoolctl").ThreadpoolController()
    except Exception:  # optional (it ships with scikit-learn); without it BLAS keeps its threads
        return None


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Run BLAS on one thread: the matrices here are <= a few hundred wide, and threaded BLAS on a
    busy machine makes each small solve 10-100x slower."""
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def initial_design_size(space: SearchSpace, budget: int | None, concurrency: int) -> int:
    """Space-filling points before the GP takes over.

    Recs proposed one at a time profit from a larger design (half the budget, up to 10 points): on the
    Bayesmark-style suite (16 recs, 5 seeds) it lifted the sequential score from 85.6 to 88.3.
    With 4+ recs in flight the batch itself explores, and a large design only delays the model, so the
    small default is kept.
    """
    base = default_n_initial(space)
    if budget is None or concurrency >= 4:
        return base
    return max(base, min(10, budget // 2))


def _canonical(x: Array, *rest: Array) -> tuple[Array, ...]:
    """``x``'s rows (and the rows of ``rest`` with them) sorted by value, first column first: the same results
    observed in another order (two jobs that ended the other way round) fit and propose the same to the last bit,
    not within 1e-13."""
    order = np.lexsort(x.T[::-1])
    return (x[order], *(r[order] for r in rest))


def _subset(x: Array, y: Array, size: int, rng: np.random.Generator) -> tuple[Array, Array]:
    """``size`` rows: the best quarter by ``y`` plus a random sample of the rest, in their original order."""
    keep = np.argsort(y, kind="stable")
    n_best = size // 4
    rest = rng.choice(keep[n_best:], size - n_best, replace=False)
    idx = np.sort(np.concatenate([keep[:n_best], rest]))
    return x[idx], y[idx]


def _anchors(x: Array, y: Array, ok: NDArray[Any]) -> Array:
    """The points the acquisition searches around: the (up to) five best successful rows of ``x`` by ``y``."""
    order = np.argsort(np.where(ok, y, np.inf), kind="stable")[: min(5, int(ok.sum()))]
    out: Array = x[order]
    return out


def tied_inputs(space: SearchSpace) -> gpmod.TiedInputs | None:
    """The GP's length-scale groups for ``space``: each categorical's one-hot columns share one, with the longer
    prior of :data:`~tao_automl.brain.classic.gp.CATEGORY_PRIOR_MEAN`; None when no param is a categorical of two or
    more options (a length scale per column, all with the numbers' prior)."""
    groups: list[tuple[int, ...]] = []
    means: list[float] = []
    col = 0
    numeric_mean = gpmod.length_prior(space.dim)[0]
    for p in space.params:
        if isinstance(p, CategoricalParam) and p.width > 1:
            groups.append(tuple(range(col, col + p.width)))
            means.append(gpmod.CATEGORY_PRIOR_MEAN)
        else:
            groups.extend((c,) for c in range(col, col + p.width))
            means.extend([numeric_mean] * p.width)
        col += p.width
    if len(groups) == col:
        return None
    return gpmod.TiedInputs(tuple(groups), tuple(means))


def _default_theta(dim: int, tied: gpmod.TiedInputs | None) -> Array:
    """The hyperparameters to start from (and to use before any fit): each length scale at its prior mean."""
    theta = gpmod.default_theta(dim)
    if tied is not None:
        lo, hi = gpmod.length_bounds()
        theta[:dim] = np.clip(tied.column_prior_means(), lo, hi)
    return theta


def _fresh_starts(dim: int, n: int, rng: np.random.Generator, tied: gpmod.TiedInputs | None = None) -> list[Array]:
    """The default hyperparameters and random length scales (two while data is scarce, then one); a tied group's
    random scales are shifted by its prior mean's distance from the numbers' (categoricals: drawn longer)."""
    starts = [_default_theta(dim, tied)]
    bounds = np.array(gpmod.theta_bounds(dim))
    shift = None if tied is None else tied.column_prior_means() - gpmod.length_prior(dim)[0]
    for _ in range(2 if n <= 30 else 1):
        start = gpmod.default_theta(dim)
        start[:dim] = rng.uniform(math.log(0.05), max(math.log(2.0), gpmod.length_prior(dim)[0]), dim)
        if shift is not None:
            start[:dim] += shift
        starts.append(np.clip(start, bounds[:, 0], bounds[:, 1]))
    return starts


def _fit_iterations(n: int) -> int:
    return 100 if n <= 50 else (50 if n <= 100 else 30)


class BayesianBrain:
    """GP + log-EI Bayesian optimisation over a :class:`SearchSpace` (minimisation)."""

    def __init__(
        self,
        space: SearchSpace,
        *,
        n_initial: int | None = None,
        xi: float = 0.01,
        n_candidates: int = 1024,
        max_fit_points: int = 120,
        max_gp_points: int = 300,
        budget: int | None = None,
        concurrency: int = 1,
    ) -> None:
        """``xi``: EI margin in standardised units; ``n_candidates``: random acquisition candidates."""
        if space.dim == 0:
            raise SearchSpaceError("bayesian: the search space has no parameters to tune",
                                   allowed="a search space of at least one param")
        if n_initial is not None and (isinstance(n_initial, bool) or not isinstance(n_initial, int)
                                      or n_initial < 1):
            raise SettingsError(f"bayesian option n_initial={n_initial!r} must be an integer >= 1",
                                field="bayesian option n_initial", value=n_initial, allowed="an integer >= 1")
        if not (isinstance(xi, (int, float)) and math.isfinite(xi) and xi >= 0):
            raise SettingsError(f"bayesian option xi={xi!r} must be a finite number >= 0",
                                field="bayesian option xi", value=xi, allowed="a finite number >= 0")
        for name, value, low in (("n_candidates", n_candidates, 16), ("max_fit_points", max_fit_points, 10)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SettingsError(f"bayesian option {name}={value!r} must be an integer >= {low}",
                                    field=f"bayesian option {name}", value=value, allowed=f"an integer >= {low}")
        self.space = space
        self.n_initial = initial_design_size(space, budget, concurrency) if n_initial is None else n_initial
        self.max_gp_points = max(max_gp_points, max_fit_points)
        self.xi = float(xi)
        self.n_candidates = n_candidates
        self.max_fit_points = max_fit_points
        self._snap = Snapper(space)
        self._tied = tied_inputs(space)
        self._configs: list[Config] = []
        self._keys: set[tuple[str, ...]] = set()
        self._x: list[Array] = []
        self._values: list[float | None] = []
        self._anchor: tuple[int, Array] | None = None  # (results, fitted hyperparameters) of the last anchor fit
        self._fits: dict[int, Array] = {}  # results -> hyperparameters fitted on the first that many (recent ones)
        self._interrupt: Callable[[], bool] | None = None  # set while prepare runs
        self._ahead: _Ahead | None = None  # the next proposal's random candidates, scored by prepare

    # ------------------------------------------------------------------ protocol

    def observe(self, config: Config, value: float | None) -> None:
        """Record a finished config; ``None`` or a non-finite value marks a failure."""
        missing = [name for name in self.space.names if name not in config]
        if missing:
            raise SearchSpaceError(f"bayesian.observe: config {config!r} lacks params {missing}", value=missing,
                                   allowed=f"a config with a value for each of {self.space.names}")
        # Out-of-range numbers are clipped into the cube; an unknown option raises SearchSpaceError.
        x = np.clip(self.space.encode(config), 0.0, 1.0)
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
        self._configs.append(dict(config))
        self._keys.add(config_key(self.space, config))
        self._x.append(x)
        self._values.append(float(value) if ok and value is not None else None)

    def suggest(self, n: int, pending: Sequence[Config], rng: np.random.Generator) -> list[Config]:
        """``n`` new distinct configs, spread away from ``pending`` and from each other."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"bayesian.suggest: n={n!r} must be an integer >= 0")
        with _single_threaded_blas():
            return self._suggest(n, pending, rng)

    def _suggest(self, n: int, pending: Sequence[Config], rng: np.random.Generator) -> list[Config]:
        taken = self._keys | {config_key(self.space, c) for c in pending}
        fantasy_x = [np.clip(self.space.encode(c), 0.0, 1.0) for c in pending]
        needs_model = self._n_success() > 0 and len(self._x) + len(pending) + n > self.n_initial
        model = self._model(rng) if needs_model else None
        design: Array | None = None
        out: list[Config] = []
        explore = model is not None and self._stalled()
        for _ in range(n):
            in_design = model is None or len(self._x) + len(pending) + len(out) < self.n_initial
            if in_design:
                if design is None:
                    design = self._sobol(max(self.n_initial, len(self._x) + len(pending) + n), rng)
                ranked = self._space_filling_order(design, fantasy_x)
            elif explore:
                ranked = self._snap(rng.uniform(size=(1, self.space.dim)))
                explore = False  # one model-free proposal per stall
            else:
                assert model is not None
                ranked = self._acquisition_order(model, fantasy_x, rng)
            config = self._first_new(ranked, taken, rng)
            taken.add(config_key(self.space, config))
            fantasy_x.append(np.clip(self.space.encode(config), 0.0, 1.0))
            out.append(config)
        return out

    # ------------------------------------------------------------------ state

    @property
    def incumbent(self) -> tuple[Config, float] | None:
        """Best successful observation so far as ``(config, value)``; failures never count."""
        best: tuple[Config, float] | None = None
        for config, value in zip(self._configs, self._values, strict=True):
            if value is not None and (best is None or value < best[1]):
                best = (dict(config), value)
        return best

    def _stalled(self) -> bool:
        """The last ``STALL_AFTER`` results are past the initial design, none improved on the best before them, and
        each lies within ``STALL_RADIUS`` of the incumbent (a function of the results, in the order observed)."""
        k, n = STALL_AFTER, len(self._values)
        if k <= 0 or n - k < self.n_initial:
            return False
        before = [(v, i) for i, v in enumerate(self._values[: n - k]) if v is not None]
        if not before:
            return False
        best, at = min(before)
        if any(v is not None and v < best for v in self._values[n - k:]):
            return False
        center = self._x[at]
        return all(float(np.sqrt(np.mean((self._x[i] - center) ** 2))) < STALL_RADIUS for i in range(n - k, n))

    def _n_success(self) -> int:
        return sum(v is not None for v in self._values)

    def _targets(self, values: Sequence[float | None] | None = None) -> Array:
        """Warped successes of ``values`` (default: every result); failures imputed at the worst success + 0.5
        (warped units)."""
        values = self._values if values is None else values
        ok = np.array([v is not None for v in values])
        raw = np.array([v for v in values if v is not None], dtype=float)
        y = np.empty(len(values))
        y[ok] = gpmod.warp_outputs(raw)
        y[~ok] = float(np.max(y[ok])) + 0.5
        return y

    # ------------------------------------------------------------------ model

    def _model(self, rng: np.random.Generator) -> tuple[GaussianProcess, float, Array]:
        """The GP on every result, with the hyperparameters fitted on all but the newest (:meth:`prepare`), the best
        (warped) successful value and the anchors for local search."""
        ok = np.array([v is not None for v in self._values])
        x, y, ok = _canonical(np.vstack(self._x), self._targets(), ok)
        theta = self._theta_on_first(len(x) - 1)
        gp_x, gp_y = x, y
        if len(x) > self.max_gp_points:  # condition on the best quarter plus a random rest: O(n^3) stays bounded
            gp_x, gp_y = _subset(x, y, self.max_gp_points, rng)
        ahead = self._ahead if self._ahead is not None and self._ahead.fitted_for(gp_x, theta) else None
        gp = GaussianProcess.fit(gp_x, gp_y, theta, chol=None if ahead is None else ahead.chol)
        return gp, float(np.min(y[ok])), _anchors(x, y, ok)

    def prepare(self, interrupt: Callable[[], bool] | None = None, upcoming: Upcoming | None = None) -> None:
        """Fit, while a job runs, the hyperparameters the next proposal uses: those of the results so far.

        A proposal made with ``n`` results conditions the GP on all ``n`` but takes its hyperparameters from the
        fit on the first ``n - 1`` (a deterministic function of them), so the fit, most of a proposal's cost, is
        paid between a launch and the next result instead of between a result and the next launch. Calling this
        never changes a proposal, only when its cost is paid: without it :meth:`suggest` fits the same thing.
        ``interrupt`` (optional, asked between likelihood evaluations): once it answers True the fit is abandoned
        (the runner's: a job has ended, and its result should not wait for work a proposal can do itself).

        With ``upcoming`` (the configs in flight and the next proposal's generator seed), the next proposal's GP
        inputs are known too, guessing that the oldest config in flight ends first (certain with one rec at a time;
        the usual order when jobs take alike): every result so far, then that config, the others fantasised. Its
        covariance is factored and its random acquisition candidates are drawn from the generator it will get and
        scored for those inputs here (:class:`CandidateBlock`), so the proposal only adds the new results' mean; so
        are the perturbations of the best results so far, guessing that the newest one will not join them
        (:class:`CandidatePool`). The proposal checks that its GP, generator and best results are the ones scored
        for, else scores what differs itself, the same way.
        """
        m = len(self._x)
        key = None if upcoming is None else self._ahead_key(m, upcoming)
        if m in self._fits and (key is None or (self._ahead is not None and self._ahead.key == key
                                                and self._ahead.pool is not None)):
            return
        self._interrupt = interrupt
        try:
            with _single_threaded_blas():
                self._theta_on_first(m)
                if key is not None and upcoming is not None:
                    self._score_ahead(m, key, upcoming)
        except gpmod.FitInterrupted:
            pass  # nothing half-done is kept: the next proposal fits what is missing
        finally:
            self._interrupt = None

    def _ahead_key(self, m: int, upcoming: Upcoming) -> tuple[Any, ...] | None:
        """What identifies the next proposal's candidate block, or None when it cannot be scored ahead (nothing in
        flight, no model yet, a trust region around a best result still to come, a subset GP)."""
        if not upcoming.pending or len(self.space) >= TRUST_REGION_MIN_PARAMS or self._n_success() == 0 \
                or m + 1 > self.max_gp_points or m + len(upcoming.pending) < self.n_initial:
            return None
        return m, tuple(config_key(self.space, c) for c in upcoming.pending), upcoming.seed

    def _score_ahead(self, m: int, key: tuple[Any, ...], upcoming: Upcoming) -> None:
        ahead = self._ahead if self._ahead is not None and self._ahead.key == key else None
        if ahead is None:
            self._ahead = None
            first, *others = (np.clip(self.space.encode(c), 0.0, 1.0) for c in upcoming.pending)
            (x,) = _canonical(np.vstack([*self._x, first]))  # as the proposal will order it
            fitted = GaussianProcess.fit(x, np.zeros(len(x)), self._theta_on_first(m))  # covariances ignore targets
            searched = fitted.condition_on(np.vstack(others), np.zeros(len(others))) if others else fitted
            rng = np.random.default_rng(list(upcoming.seed))
            before = rng.bit_generator.state
            cands = uniform_candidates(self._snap, rng, self.n_candidates, np.zeros(x.shape[1]), np.ones(x.shape[1]))
            block = CandidateBlock.score(searched, cands, self._interrupt)
            ok = np.array([v is not None for v in self._values])
            anchors = _anchors(*_canonical(np.vstack(self._x), self._targets(), ok))  # the best so far, in order
            # kept once scored: an interruption while the local candidates are scored loses only those
            ahead = self._ahead = _Ahead(key, fitted.x, fitted.theta, fitted.chol, before,
                                         rng.bit_generator.state, block, anchors, searched)
        if ahead.pool is not None:
            return
        rng = np.random.default_rng(list(upcoming.seed))
        rng.bit_generator.state = ahead.rng_after
        dim = ahead.searched.dim
        pool = CandidatePool.draw(ahead.searched, self._snap, ahead.anchors, rng, n_random=self.n_candidates,
                                  n_local=N_LOCAL, lo=np.zeros(dim), hi=np.ones(dim), uniform=ahead.block,
                                  interrupt=self._interrupt)
        self._ahead = replace(ahead, pool=pool, rng_after_pool=rng.bit_generator.state)

    def _pool_ahead(self, gp: GaussianProcess, anchors: Array, rng: np.random.Generator) -> CandidatePool | None:
        """The candidates :meth:`prepare` scored, when they were scored for ``gp`` and ``rng`` (which then moves on as
        if it had drawn them): the whole pool when the anchors are those guessed, else the uniform block with the
        anchors' perturbations drawn and scored now; None when nothing fits. Used once."""
        ahead, self._ahead = self._ahead, None
        if ahead is None or not ahead.scored_for(gp, rng):
            return None
        if ahead.pool is not None and ahead.rng_after_pool is not None and np.array_equal(ahead.anchors, anchors):
            rng.bit_generator.state = ahead.rng_after_pool
            return ahead.pool
        rng.bit_generator.state = ahead.rng_after
        return CandidatePool.draw(gp, self._snap, anchors, rng, n_random=self.n_candidates, n_local=N_LOCAL,
                                  lo=np.zeros(gp.dim), hi=np.ones(gp.dim), uniform=ahead.block)

    def _theta_on_first(self, m: int) -> Array:
        """MAP hyperparameters for the first ``m`` results (in the order observed): a deterministic function of
        them, so a reopened run fits, and proposes, what the uninterrupted run does.

        On a *reset* count (below 8, or a multiple of ``REFIT_EVERY``) the fit starts afresh: below 20 results
        from the default and random restarts drawn from a generator seeded by ``m``, from 20 on from the *anchor*
        fit (see :meth:`_anchor_theta`) plus the default and a random restart on every 8th count. In between, one
        L-BFGS-B run warm-starts from the fit on ``m - 1`` (as Optuna's GP sampler reuses its last kernel
        parameters), so a refit costs a few likelihood evaluations instead of three full runs.
        """
        cached = self._fits.get(m)
        if cached is not None:
            return cached
        dim = self.space.dim
        values = self._values[:m]
        theta = _default_theta(dim, self._tied)
        if m >= 3 and any(v is not None for v in values):
            gen = np.random.default_rng(m)
            x, y = _canonical(np.vstack(self._x[:m]), self._targets(values))
            if m > self.max_fit_points:
                x, y = _subset(x, y, self.max_fit_points, gen)
            if m >= 8 and m % REFIT_EVERY:
                starts = [self._theta_on_first(m - 1)]
            elif m < 20:
                starts = _fresh_starts(dim, m, gen, self._tied)
            else:
                starts = [self._anchor_theta(m - m % ANCHOR_EVERY)]
                if m % 8 == 0:
                    starts += _fresh_starts(dim, m, gen, self._tied)
            theta = gpmod.fit_hyperparameters(x, y, starts, _fit_iterations(m), self._interrupt, self._tied)
        self._fits = {k: v for k, v in self._fits.items() if k >= m - REFIT_EVERY}
        self._fits[m] = theta
        return theta

    def _anchor_theta(self, size: int) -> Array:
        """The fit on the first ``size`` results (in the order observed), from fresh restarts drawn from a
        generator seeded by ``size``: the same in a live and in a reopened run, computed once per size."""
        if self._anchor is not None and self._anchor[0] == size:
            return self._anchor[1]
        dim = self.space.dim
        theta = _default_theta(dim, self._tied)
        values = self._values[:size]
        if any(v is not None for v in values):
            gen = np.random.default_rng(size)
            x, y = _canonical(np.vstack(self._x[:size]), self._targets(values))
            if size > self.max_fit_points:
                x, y = _subset(x, y, self.max_fit_points, gen)
            theta = gpmod.fit_hyperparameters(x, y, _fresh_starts(dim, size, gen, self._tied), _fit_iterations(size),
                                              self._interrupt, self._tied)
        self._anchor = (size, theta)
        return theta

    # ------------------------------------------------------------------ proposals

    def _sobol(self, size: int, rng: np.random.Generator) -> Array:
        """The first ``2**k >= size`` points of a scrambled Sobol sequence, snapped.

        A balanced set barely larger than the design, not a large pool: the greedy farthest-point picks from a
        pool of 4x the design (the rule before 2026-12-02) sat on the cube's faces in 10 dimensions, and on
        Ackley-10 they scored worse than uniform draws (tuning split, batches of 4: below random's median).
        """
        m = max(1, math.ceil(math.log2(max(size, 2))))
        # held: SciPy reads its direction numbers in code that swallows exceptions, so a Ctrl-C or `stop` landing
        # there was lost (and the half-read tables gave other points); it is delivered once the sampler is built
        with interrupts_held():
            try:
                sampler = qmc.Sobol(self.space.dim, scramble=True, rng=rng)
            except TypeError:  # SciPy < 1.15 names the argument ``seed``
                sampler = qmc.Sobol(self.space.dim, scramble=True, seed=rng)
        points: Array = self._snap(sampler.random_base2(m))
        return points

    def _space_filling_order(self, design: Array, existing: Sequence[Array]) -> Array:
        """Design points ordered by decreasing distance to the nearest observed/pending/chosen point."""
        points = list(self._x) + list(existing)
        if not points:
            return design
        d2 = ((design[:, None, :] - np.vstack(points)[None, :, :]) ** 2).sum(axis=2).min(axis=1)
        ordered: Array = design[np.argsort(-d2, kind="stable")]
        return ordered

    def _acquisition_order(
        self,
        model: tuple[GaussianProcess, float, Array],
        fantasy_x: Sequence[Array],
        rng: np.random.Generator,
    ) -> Array:
        gp, best, anchors = model
        if fantasy_x:
            # Kriging believer. Conditioning on y = posterior mean leaves the mean unchanged, so
            # fantasising all points at once equals doing it one by one; only the variance shrinks.
            fx = np.vstack(fantasy_x)
            mu, _ = gp.predict(fx)
            gp = gp.condition_on(fx, mu)
            best = min(best, float(np.min(mu)))
        box = self._trust_region(gp, anchors[0]) if len(self.space) >= TRUST_REGION_MIN_PARAMS else None
        pool = self._pool_ahead(gp, anchors, rng) if box is None else None
        ranked, _ = maximise_log_ei(gp, self._snap, best, self.xi, anchors, rng, n_random=self.n_candidates,
                                    n_local=N_LOCAL, box=box, pool=pool)
        return ranked

    def _trust_region(self, gp: GaussianProcess, center: Array) -> tuple[Array, Array]:
        """A box around the incumbent (TuRBO, Eriksson et al. 2019): side ``TRUST_REGION_LENGTH`` times each
        numeric coordinate's length scale over their geometric mean; other coordinates are not confined."""
        mask = self._snap.continuous_mask()
        side = np.ones(gp.dim)
        if mask.any():
            ls = np.exp(gp.theta[: gp.dim][mask])
            side[mask] = TRUST_REGION_LENGTH * ls / math.exp(float(np.mean(np.log(ls))))
        lo = np.where(mask, np.clip(center - side / 2, 0.0, 1.0), 0.0)
        hi = np.where(mask, np.clip(center + side / 2, 0.0, 1.0), 1.0)
        return lo, hi

    def _first_new(self, ranked: Array, taken: set[tuple[str, ...]], rng: np.random.Generator) -> Config:
        """First candidate whose decoded config is unused, preferring one that keeps the space's relations as it
        decodes: the repair moves a candidate that breaks one onto the relation's boundary, and the acquisition,
        drawn to the unexplored side, piled recs there (crop_max = crop_min + 1 in 4 of 14); random draws if all
        are used."""
        repaired: Config | None = None
        for x in ranked[:256]:
            raw = self.space.decode(x, keep_relations=False)
            config = self.space.repair(dict(raw))  # (repair may move values in the mapping it is given)
            if config_key(self.space, config) in taken:
                continue
            if config == raw:
                return config
            repaired = repaired or config  # the best one that breaks a relation: used when none keeps them
        if repaired is not None:
            return repaired
        return unused_config(self.space, taken, rng)  # a repeat only once a finite space is exhausted
