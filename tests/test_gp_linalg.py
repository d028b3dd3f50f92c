"""The GP's direct LAPACK calls give exactly what scipy.linalg's wrappers give (they call the same routines)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from tao_automl.brain.classic.gp import _cholesky, cho_solve_lower, solve_lower


def _spd(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


@pytest.mark.parametrize("n", [1, 2, 7, 40, 150])
def test_factor_and_solves_are_bit_identical_to_scipy(n: int) -> None:
    k = _spd(n, n)
    chol = _cholesky(k)
    np.testing.assert_array_equal(chol, linalg.cholesky(k, lower=True))
    rng = np.random.default_rng(n + 1)
    for b in (np.ones(n), rng.normal(size=n), np.eye(n), rng.normal(size=(5, n)).T):
        np.testing.assert_array_equal(cho_solve_lower(chol, b), linalg.cho_solve((chol, True), b))
        np.testing.assert_array_equal(solve_lower(chol, b), linalg.solve_triangular(chol, b, lower=True))
    c_ordered = np.ascontiguousarray(chol)
    b = rng.normal(size=(n, 3))
    np.testing.assert_array_equal(solve_lower(c_ordered, b), linalg.solve_triangular(c_ordered, b, lower=True))


def test_a_matrix_that_is_not_positive_definite_gets_jitter_and_a_bad_value_is_refused() -> None:
    singular = np.ones((4, 4))  # rank 1: positive definite only once jitter is added
    chol = _cholesky(singular)
    assert np.isfinite(chol).all() and np.allclose(chol @ chol.T, singular, atol=1e-3)
    with pytest.raises(linalg.LinAlgError):
        _cholesky(-np.eye(3))
    with pytest.raises(ValueError, match="infs or NaNs"):
        _cholesky(np.full((2, 2), np.nan))


def test_unique_rows_is_numpys_unique_along_rows() -> None:
    """The acquisition's candidate de-duplication gives what ``np.unique(axis=0)`` gives, order included."""
    from tao_automl.brain.classic.acquisition import unique_rows

    rng = np.random.default_rng(3)
    for shape in [(1, 1), (7, 3), (1088, 5), (300, 9)]:
        x = np.round(rng.random(shape), 1)  # coarse values: many duplicate rows and tied leading columns
        x[: shape[0] // 3] = x[shape[0] // 3: 2 * (shape[0] // 3)]
        np.testing.assert_array_equal(unique_rows(x), np.unique(x, axis=0))
    assert unique_rows(np.empty((0, 4))).shape == (0, 4)
