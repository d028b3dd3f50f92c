"""A small Gaussian-process regressor on the unit cube (numpy + scipy only).

Model: constant mean (profiled out by generalised least squares), Matern-5/2 kernel with one length
scale per input coordinate (ARD; the fit may tie columns to one scale, :class:`TiedInputs`: a categorical's one-hot
columns), a signal variance and a homoscedastic noise variance. The hyperparameters maximise the log marginal
likelihood plus a log-normal prior on the length scales (a MAP estimate: with 5-10 points plain maximum likelihood
often collapses a length scale; median 0.5 for a number's, :data:`CATEGORY_PRIOR_MEAN` for a categorical's, or,
with ``DIM_SCALED_PRIOR``, growing with the dimension).
They are searched in log space, inside bounds, with L-BFGS-B and analytic gradients.

Outputs are expected already transformed (see :func:`warp_outputs`): roughly zero mean, unit spread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, optimize
from scipy.linalg import lapack

Array = NDArray[np.float64]

SQRT5 = math.sqrt(5.0)
# Bounds of the log hyperparameters (inputs in [0, 1], outputs standardised).
LOG_LENGTH_BOUNDS = (math.log(0.01), math.log(20.0))
LOG_LENGTH_MAX_SCALED = math.log(100.0)  # upper bound with the dimension-scaled prior
LOG_SIGNAL_BOUNDS = (math.log(0.05), math.log(20.0))
LOG_NOISE_BOUNDS = (math.log(1e-6), math.log(0.5))
# Log-normal prior on each length scale. Dimension-scaled (Hvarfner, Hellsten & Nardi 2024, "Vanilla Bayesian
# optimization performs great in high dimensions"): log l ~ N(sqrt(2) + log(d) / 2, sqrt(3)), so more inputs
# mean longer length scales a priori; ``DIM_SCALED_PRIOR = False`` gives the fixed N(log 0.5, 1.5). Off: on the
# suite's tuning split (16 recs) it scored 79.4 vs 88.1 at 16x1, losing most on Ackley-10 and Rosenbrock-10.
DIM_SCALED_PRIOR = False
LENGTH_PRIOR_MEAN = math.log(0.5)
LENGTH_PRIOR_SD = 1.5
JITTER = 1e-9


def length_prior(dim: int) -> tuple[float, float]:
    """(mean, sd) of the normal prior on each log length scale for ``dim`` inputs."""
    if DIM_SCALED_PRIOR:
        return math.sqrt(2.0) + 0.5 * math.log(max(dim, 1)), math.sqrt(3.0)
    return LENGTH_PRIOR_MEAN, LENGTH_PRIOR_SD


def default_theta(dim: int) -> Array:
    """Log hyperparameters ``[log l_1..l_d, log signal var, log noise var]`` to start from (the prior median)."""
    lo, hi = length_bounds()
    start = min(max(length_prior(dim)[0], lo), hi)
    return np.concatenate([np.full(dim, start), [0.0, math.log(1e-2)]])


def length_bounds() -> tuple[float, float]:
    return (LOG_LENGTH_BOUNDS[0], LOG_LENGTH_MAX_SCALED) if DIM_SCALED_PRIOR else LOG_LENGTH_BOUNDS


def theta_bounds(dim: int) -> list[tuple[float, float]]:
    return [length_bounds()] * dim + [LOG_SIGNAL_BOUNDS, LOG_NOISE_BOUNDS]


@lru_cache(maxsize=64)
def _theta_limits(dim: int) -> tuple[Array, Array]:
    """:func:`theta_bounds` as read-only lower and upper arrays."""
    bounds = np.array(theta_bounds(dim), dtype=float)
    lo, hi = bounds[:, 0].copy(), bounds[:, 1].copy()
    lo.flags.writeable = hi.flags.writeable = False
    return lo, hi


def warp_outputs(y: Array) -> Array:
    """Standardise ``y``; when it is heavy-tailed, also apply a Yeo-Johnson power warp.

    The warp is monotone, so ranks (and so which point is best) are preserved. It is used when the
    sample skewness exceeds 0.5 in absolute value with at least 4 distinct values: e.g. one diverged
    run with a loss 100x the others would otherwise flatten every other difference to ~0. The
    exponent is the maximum-likelihood one on a grid over [-2, 2] (step 0.05).
    """
    y = _tamed(np.asarray(y, dtype=float))
    z = _standardise(y)
    if len(np.unique(z)) >= 4 and abs(_skewness(z)) > 0.5:
        lams = np.linspace(-2.0, 2.0, 81)
        warped = _yeo_johnson(z, lams)
        jacobian = (lams - 1.0) * float(np.sum(np.sign(z) * np.log1p(np.abs(z))))
        llf = -0.5 * len(z) * np.log(np.maximum(np.var(warped, axis=1), 1e-300)) + jacobian
        z = _standardise(warped[int(np.argmax(llf))])
    return z


#: Values whose magnitude passes this are rescaled before their mean and variance are taken (which overflow).
_HUGE = 1e150
#: A value farther from the median than this many interquartile ranges puts the outputs on a signed log scale.
_FAR = 1e6


def _tamed(y: Array) -> Array:
    """``y`` as it is, unless its values are extreme: magnitudes near the float limit are rescaled (their mean and
    variance would overflow), and when a value lies more than ``_FAR`` interquartile ranges from the median (a
    diverged run's loss of 1e155 among losses near 1) the outputs go on a signed log scale around the median, so
    the differences between the other results survive. Monotone: ranks are kept."""
    big = float(np.max(np.abs(y))) if len(y) else 0.0
    if big > _HUGE:
        y = y / big
    d = y - float(np.median(y))
    q25, q75 = np.percentile(y, [25.0, 75.0])
    ref = float(q75 - q25) or float(np.median(np.abs(d)))
    if ref > 0.0 and float(np.max(np.abs(d))) > _FAR * ref:
        out: Array = np.sign(d) * np.log1p(np.abs(d) / ref)
        return out
    return y


def _skewness(x: Array) -> float:
    """Sample skewness ``m3 / m2**1.5`` (the biased estimator ``scipy.stats.skew`` returns by default, without
    its ~1 ms of argument handling per call); 0 for a constant sample."""
    d = x - float(np.mean(x))
    m2 = float(np.mean(d * d))
    return float(np.mean(d * d * d)) / m2**1.5 if m2 > 0.0 else 0.0


def _yeo_johnson(x: Array, lams: Array) -> Array:
    """Yeo-Johnson transform of ``x`` for each exponent in ``lams``: shape ``(len(lams), len(x))``. Each column
    computes only its sign's branch (the other is discarded anyway)."""
    lam = lams[:, None]
    pos = x >= 0
    out = np.empty((len(lams), len(x)))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = np.abs(x[pos])
        out[:, pos] = np.where(np.abs(lam) < 1e-12, np.log1p(a), (np.power(1.0 + a, lam) - 1.0) / lam)
        a = np.abs(x[~pos])
        out[:, ~pos] = np.where(np.abs(lam - 2) < 1e-12, -np.log1p(a),
                                -(np.power(1.0 + a, 2.0 - lam) - 1.0) / (2.0 - lam))
    return out


def _standardise(y: Array) -> Array:
    sd = float(np.std(y))
    return (y - float(np.mean(y))) / (sd if sd > 1e-12 else 1.0)


def scaled_sq_norms(b: Array, inv_l2: Array) -> Array:
    """``sum_d b_d^2 / l_d^2`` per row: the ``b`` side of :func:`scaled_sq_dist`, reusable for fixed ``b``."""
    out: Array = np.sum(b * b * inv_l2, axis=1)
    return out


def scaled_sq_dist(a: Array, b: Array, inv_l2: Array, b_norms: Array | None = None) -> Array:
    """Squared distances ``sum_d (a_d - b_d)^2 / l_d^2`` between rows, by matrix products (no 3-d array).
    ``b_norms``: ``scaled_sq_norms(b, inv_l2)`` when already computed (the same numbers)."""
    aw = a * inv_l2
    if b_norms is None:
        b_norms = scaled_sq_norms(b, inv_l2)
    d2: Array = np.sum(aw * a, axis=1)[:, None] + b_norms[None, :] - 2.0 * (aw @ b.T)
    out: Array = np.maximum(d2, 0.0)
    return out


def _matern_parts(r: Array) -> tuple[Array, Array]:
    """Matern-5/2 correlation at scaled distance ``r`` and the factor shared by its derivatives."""
    e = np.exp(-SQRT5 * r)
    corr = (1.0 + SQRT5 * r + (5.0 / 3.0) * r * r) * e
    deriv = (5.0 / 3.0) * (1.0 + SQRT5 * r) * e  # -(dk/dr)/r, finite at r = 0
    return corr, deriv


# The LAPACK routines scipy.linalg's cholesky / cho_solve / solve_triangular call, called directly: the same
# arguments give bit-identical results without the wrappers' per-call validation and batching layers, which
# cost about as much as the factorisation itself at the 10-300 points a suggest fits (dozens of calls each).
def _potrf_lower(a: Array) -> tuple[Array, int]:
    """``scipy.linalg.cholesky(a, lower=True)`` as LAPACK returns it: (factor, info); info > 0: not PD."""
    if not np.isfinite(a).all():
        raise ValueError("array must not contain infs or NaNs")
    factor, info = lapack.dpotrf(a, lower=1, clean=1, overwrite_a=0)
    if info < 0:
        raise ValueError(f"illegal value in argument {-info} of LAPACK potrf")
    return np.asarray(factor, dtype=float), int(info)


def cho_solve_lower(chol: Array, b: Array) -> Array:
    """``scipy.linalg.cho_solve((chol, True), b, check_finite=False)``."""
    x, info = lapack.dpotrs(chol, b, lower=1, overwrite_b=0)
    if info != 0:
        raise ValueError(f"illegal value in argument {-info} of LAPACK potrs")
    return np.asarray(x, dtype=float)


def solve_lower(chol: Array, b: Array) -> Array:
    """``scipy.linalg.solve_triangular(chol, b, lower=True, check_finite=False)``."""
    if chol.flags.f_contiguous:
        x, info = lapack.dtrtrs(chol, b, lower=1, trans=0, unitdiag=0, overwrite_b=0)
    else:  # trtrs wants Fortran order: solve the transposed system, as scipy does
        x, info = lapack.dtrtrs(chol.T, b, lower=0, trans=1, unitdiag=0, overwrite_b=0)
    if info > 0:
        raise linalg.LinAlgError(f"singular matrix: resolution failed at diagonal {info - 1}")
    if info < 0:
        raise ValueError(f"illegal value in argument {-info} of LAPACK trtrs")
    return np.asarray(x, dtype=float)


def _cholesky(k: Array) -> Array:
    """Lower Cholesky factor, adding growing jitter to the diagonal until it succeeds."""
    factor, info = _potrf_lower(k)  # potrf copies k (overwrite_a=0)
    if info == 0:
        return factor
    scale = max(float(np.mean(np.diag(k))), 1e-12)
    for exponent in (-8, -6, -4, -2):
        factor, info = _potrf_lower(k + scale * 10.0**exponent * np.eye(len(k)))
        if info == 0:
            return factor
    raise linalg.LinAlgError("kernel matrix is not positive definite even with jitter 1e-2")


def _neg_log_posterior(theta: Array, x_sq_diff: Array, y: Array,
                       prior_means: Array | None = None) -> tuple[float, Array]:
    """Negative (log marginal likelihood + log length-scale prior) and its gradient in ``theta``; ``prior_means``:
    each length scale's prior mean (default: :func:`length_prior`'s for all)."""
    n, _, dim = x_sq_diff.shape
    inv_l2 = np.exp(-2.0 * theta[:dim])
    signal, noise = math.exp(theta[dim]), math.exp(theta[dim + 1])
    r = np.sqrt(np.maximum(x_sq_diff @ inv_l2, 0.0))
    corr, deriv = _matern_parts(r)
    k = signal * corr
    k[np.diag_indices(n)] += noise + JITTER
    try:
        chol = _cholesky(k)
    except linalg.LinAlgError:
        return 1e10, np.zeros_like(theta)
    ones = np.ones(n)
    k_inv = cho_solve_lower(chol, np.eye(n))
    k_inv_1 = k_inv @ ones
    mean = float(k_inv_1 @ y / (ones @ k_inv_1))
    alpha = k_inv @ (y - mean)
    resid = y - mean
    lml = -0.5 * float(resid @ alpha) - float(np.sum(np.log(np.diag(chol)))) - 0.5 * n * math.log(2 * math.pi)
    w = np.outer(alpha, alpha) - k_inv
    grad = np.empty_like(theta)
    grad[:dim] = 0.5 * np.einsum("ij,ijk->k", w * (signal * deriv), x_sq_diff) * inv_l2
    grad[dim] = 0.5 * float(np.sum(w * (signal * corr)))
    grad[dim + 1] = 0.5 * noise * float(np.trace(w))
    log_l = theta[:dim]
    default_mean, prior_sd = length_prior(dim)
    prior_mean: Array | float = default_mean if prior_means is None else prior_means
    prior = -0.5 * float(np.sum(((log_l - prior_mean) / prior_sd) ** 2))
    grad[:dim] -= (log_l - prior_mean) / prior_sd**2
    return -(lml + prior), -grad


class FitInterrupted(Exception):
    """Raised out of :func:`fit_hyperparameters` when its ``interrupt`` says so; the fit is abandoned."""


@dataclass(frozen=True)
class TiedInputs:
    """Input columns that share one length scale, and each group's prior mean of its log length scale.

    A categorical's one-hot columns form one group: two configs that differ in it are then at squared distance
    ``2 / l^2`` whatever the two options (a Hamming-distance kernel, as Optuna's GP sampler and BoTorch's
    categorical kernel use), where a length scale per column gave ``1 / l_i^2 + 1 / l_j^2``. Its prior mean is
    longer than a number's (:data:`CATEGORY_PRIOR_MEAN`). ``groups`` partition the columns ``0..dim-1``."""

    groups: tuple[tuple[int, ...], ...]
    prior_means: tuple[float, ...]

    @property
    def dim(self) -> int:
        return sum(len(g) for g in self.groups)

    def column_prior_means(self) -> Array:
        """Each column's prior mean (its group's)."""
        out = np.empty(self.dim)
        for group, mean in zip(self.groups, self.prior_means, strict=True):
            out[list(group)] = mean
        return out

    def reduce(self, theta: Array) -> Array:
        """Per-column log hyperparameters -> per-group (a group's mean log length scale), signal and noise kept."""
        dim = self.dim
        return np.concatenate([[float(np.mean(theta[list(g)])) for g in self.groups], theta[dim:]])

    def expand(self, theta: Array) -> Array:
        """Per-group log hyperparameters -> per-column (each column its group's length scale)."""
        k = len(self.groups)
        out = np.empty(self.dim + len(theta) - k)
        for i, group in enumerate(self.groups):
            out[list(group)] = theta[i]
        out[self.dim :] = theta[k:]
        return out

    def sq_diff(self, x_sq_diff: Array) -> Array:
        """Squared coordinate differences ``(n, n, dim)`` summed within each group: ``(n, n, groups)``."""
        return np.stack([x_sq_diff[:, :, list(g)].sum(axis=2) for g in self.groups], axis=2)


#: Prior mean of a categorical's log length scale (one per categorical, see :class:`TiedInputs`): log 2, so that
#: a change of option (squared distance 2 / l^2 = 0.5) a priori keeps a correlation of ~0.7. At the numbers' log 0.5
#: it kept ~0.06: every config differing in any categorical was unrelated to the data, the fit saw no gradient
#: there and the acquisition never left the incumbent's options (suite, categorical variants of the synthetic
#: problems: +3.1 at 16x1 and +6.0 in batches of 4, paired over 10 seeds).
CATEGORY_PRIOR_MEAN = math.log(2.0)


def fit_hyperparameters(x: Array, y: Array, starts: Sequence[Array], max_iter: int,
                        interrupt: Callable[[], bool] | None = None, tied: TiedInputs | None = None) -> Array:
    """Best log hyperparameters over L-BFGS-B runs from each of ``starts`` (clipped to the bounds).

    ``interrupt`` (optional) is asked before every likelihood evaluation; once it answers True the fit stops with
    :class:`FitInterrupted` (work done in idle time gives way to a job that just ended). ``tied``: columns that
    share a length scale, with their prior means; the fit then searches one length scale per group (a start's
    group gets the mean of its columns' log scales) and returns one per column."""
    prior_means = None if tied is None else np.asarray(tied.prior_means, dtype=float)

    def objective(theta: Array, x_sq_diff: Array, y: Array) -> tuple[float, Array]:
        if interrupt is not None and interrupt():
            raise FitInterrupted
        return _neg_log_posterior(theta, x_sq_diff, y, prior_means)

    dim = x.shape[1]
    diff = x[:, None, :] - x[None, :, :]
    x_sq_diff = diff * diff
    if tied is not None:
        x_sq_diff = tied.sq_diff(x_sq_diff)
        starts = [tied.reduce(np.asarray(s, dtype=float)) for s in starts]
    lo, hi = _theta_limits(x_sq_diff.shape[2])
    best_theta, best_value = np.clip(starts[0], lo, hi), math.inf
    for start in starts:
        res = optimize.minimize(  # bounds as a Bounds object: SciPy converts a list of pairs on every call
            objective, np.clip(start, lo, hi), args=(x_sq_diff, y), jac=True, method="L-BFGS-B",
            bounds=optimize.Bounds(lo, hi), options={"maxiter": max_iter, "ftol": 1e-7, "gtol": 1e-4},
        )
        if math.isfinite(float(res.fun)) and float(res.fun) < best_value:
            best_theta, best_value = np.asarray(res.x, dtype=float), float(res.fun)
    if tied is not None:
        assert dim == tied.dim
        return tied.expand(best_theta)
    return best_theta


@dataclass(frozen=True)
class GaussianProcess:
    """A GP conditioned on data with fixed hyperparameters. Build it with :meth:`fit`."""

    x: Array
    y: Array
    theta: Array
    noise: Array  # per-point noise variance (fantasised points get ~0)
    mean: float
    chol: Array
    alpha: Array

    @property
    def dim(self) -> int:
        return int(self.x.shape[1])

    # Cached: a proposal's gradient refinement predicts at a few points a dozen times, where recomputing these
    # was a fifth of each prediction. A GP is immutable, so the cache never goes stale.
    @cached_property
    def inv_l2(self) -> Array:
        return np.exp(-2.0 * self.theta[: self.dim])

    @cached_property
    def signal(self) -> float:
        return math.exp(float(self.theta[self.dim]))

    @cached_property
    def _x_norms(self) -> Array:
        return scaled_sq_norms(self.x, self.inv_l2)

    @classmethod
    def fit(cls, x: Array, y: Array, theta: Array, noise: Array | None = None,
            chol: Array | None = None) -> GaussianProcess:
        """Condition on ``(x, y)`` with log hyperparameters ``theta``; ``noise`` overrides per point. ``chol``: the
        Cholesky factor a fit with the same ``x``, ``theta`` and noise computed (it does not depend on ``y``)."""
        dim = x.shape[1]
        if noise is None:
            noise = np.full(len(x), math.exp(float(theta[dim + 1])))
        if chol is None:
            d2 = scaled_sq_dist(x, x, np.exp(-2.0 * theta[:dim]))
            np.fill_diagonal(d2, 0.0)
            k = math.exp(float(theta[dim])) * _matern_parts(np.sqrt(d2))[0]
            k[np.diag_indices(len(x))] += noise + JITTER
            chol = _cholesky(k)
        ones = np.ones(len(x))
        k_inv_1 = cho_solve_lower(chol, ones)
        mean = float(k_inv_1 @ y / (ones @ k_inv_1))
        alpha = cho_solve_lower(chol, y - mean)
        return cls(x=x, y=y, theta=theta, noise=noise, mean=mean, chol=chol, alpha=alpha)

    def condition_on(self, x_new: Array, y_new: Array, noise: float = 1e-6) -> GaussianProcess:
        """The same GP with extra (e.g. fantasised) observations; hyperparameters and mean kept."""
        x = np.vstack([self.x, x_new])
        y = np.concatenate([self.y, y_new])
        gp = GaussianProcess.fit(x, y, self.theta, np.concatenate([self.noise, np.full(len(x_new), noise)]))
        alpha = cho_solve_lower(gp.chol, y - self.mean)
        return GaussianProcess(x=x, y=y, theta=self.theta, noise=gp.noise, mean=self.mean, chol=gp.chol,
                               alpha=alpha)

    def _cross(self, xs: Array) -> tuple[Array, Array]:
        """Cross-covariance with the data and its radial derivative factor (distances by matrix products)."""
        r = np.sqrt(scaled_sq_dist(xs, self.x, self.inv_l2, self._x_norms))
        corr, deriv = _matern_parts(r)
        return self.signal * corr, self.signal * deriv

    def whitened(self, xs: Array) -> tuple[Array, Array]:
        """The target-free parts of :meth:`predict` at the rows of ``xs``: ``L^-1 k(X, xs)`` (n, m), for ``L`` the
        Cholesky factor of the data's covariance, and the latent variance (m,). With :meth:`whitened_targets` the
        mean is one product, so a block scored ahead of its targets needs no further solve."""
        return self._whiten(self._cross(xs)[0])

    def _whiten(self, ks: Array) -> tuple[Array, Array]:
        """``L^-1 ks.T`` and the latent variance, for cross-covariances ``ks`` (m, n)."""
        v = solve_lower(self.chol, ks.T)
        return v, np.maximum(self.signal - np.sum(v * v, axis=0), 1e-12)

    def whitened_targets(self) -> Array:
        """``L^-1 (y - mean)``: the posterior mean at rows whitened as ``v`` is ``mean + whitened_targets() @ v``."""
        return solve_lower(self.chol, self.y - self.mean)

    def predict(self, xs: Array) -> tuple[Array, Array]:
        """Posterior mean and latent (noise-free) variance at the rows of ``xs``."""
        ks, _ = self._cross(xs)
        return self.mean + ks @ self.alpha, self._whiten(ks)[1]

    def predict_with_grad(self, xs: Array) -> tuple[Array, Array, Array, Array]:
        """Mean and latent variance at the rows of ``xs`` and their gradients in each row: (m,), (m,), (m, d),
        (m, d). A variance below 1e-12 is floored there, with a zero gradient."""
        ks, dfac = self._cross(xs)
        diff = xs[:, None, :] - self.x[None, :, :]
        dk = -(dfac[:, :, None] * diff) * self.inv_l2[None, None, :]  # (m, n, d): d k(x_j, x_i) / d x_j
        mu = self.mean + ks @ self.alpha
        dmu = np.einsum("mnd,n->md", dk, self.alpha)
        v = cho_solve_lower(self.chol, ks.T)  # (n, m)
        var = self.signal - np.sum(ks * v.T, axis=1)
        dvar = -2.0 * np.einsum("mnd,nm->md", dk, v)
        floored = var < 1e-12
        dvar[floored] = 0.0
        return mu, np.where(floored, 1e-12, var), dmu, dvar
