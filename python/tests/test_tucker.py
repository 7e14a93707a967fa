"""tensorblas.tucker / partial_tucker against TensorLy (the oracle: same errors per sweep)."""
import numpy as np
import pytest

import tensorblas as tb

tl = pytest.importorskip("tensorly")
from tensorly.decomposition import partial_tucker as tl_partial_tucker  # noqa: E402
from tensorly.decomposition import tucker as tl_tucker  # noqa: E402


def low_rank(rng, shape, ranks, noise=0.1):
    core = rng.standard_normal(ranks)
    x = core
    for m, (i, r) in enumerate(zip(shape, ranks)):
        u = rng.standard_normal((i, r))
        x = np.moveaxis(np.tensordot(u, x, axes=(1, m)), 0, m)
    return x + noise * np.linalg.norm(x) / np.sqrt(x.size) * rng.standard_normal(shape)


def reconstruct(core, factors, modes=None):
    x = core
    modes = range(len(factors)) if modes is None else modes
    for f, m in zip(factors, modes):
        x = np.moveaxis(np.tensordot(f, x, axes=(1, m)), 0, m)
    return x


@pytest.fixture
def x(rng):
    return low_rank(rng, (12, 10, 8), (3, 4, 2))


def test_errors_equal_tensorlys(x):
    (core, fs), errs = tb.tucker(x, [3, 4, 2], n_iter_max=6, tol=0, return_errors=True)
    _, tl_errs = tl_tucker(x, [3, 4, 2], n_iter_max=6, tol=0, return_errors=True)
    assert len(errs) == len(tl_errs) == 6
    np.testing.assert_allclose(errs, tl_errs, rtol=0, atol=1e-10)
    assert core.shape == (3, 4, 2) and [f.shape for f in fs] == [(12, 3), (10, 4), (8, 2)]
    for f in fs:
        np.testing.assert_allclose(f.T @ f, np.eye(f.shape[1]), atol=1e-10)
    rel = np.linalg.norm(reconstruct(core, fs) - x) / np.linalg.norm(x)
    assert abs(rel - errs[-1]) < 1e-10


def test_returns_a_pair_like_tensorlys(x):
    core, fs = tb.tucker(x, 2)
    assert core.shape == (2, 2, 2) and len(fs) == 3


def test_strided_input_read_in_place(x):
    big = np.zeros((24, 10, 16))
    big[::2, :, ::2] = x
    view = big[::2, :, ::2].transpose(2, 0, 1)
    _, e1 = tb.tucker(view, [2, 3, 4], n_iter_max=3, tol=0, return_errors=True)
    _, e2 = tb.tucker(np.ascontiguousarray(view), [2, 3, 4], n_iter_max=3, tol=0, return_errors=True)
    np.testing.assert_allclose(e1, e2, atol=1e-12)


def test_float32_close_to_float64(x):
    _, e64 = tb.tucker(x, [3, 4, 2], n_iter_max=5, tol=0, return_errors=True)
    (core, fs), e32 = tb.tucker(x.astype(np.float32), [3, 4, 2], n_iter_max=5, tol=0, return_errors=True)
    assert core.dtype == np.float32 and fs[0].dtype == np.float32
    np.testing.assert_allclose(e32, e64, atol=1e-5)


def test_partial_tucker_matches_tensorly(x):
    (core, fs), errs = tb.partial_tucker(x, [3, 2], modes=[0, 2], n_iter_max=4, tol=0)
    (tl_core, tl_fs), tl_errs = tl_partial_tucker(x, [3, 2], modes=[0, 2], n_iter_max=4, tol=0)
    assert core.shape == tl_core.shape == (3, 10, 2)
    np.testing.assert_allclose(errs, tl_errs, atol=1e-10)


def test_inits_and_options(x):
    (c1, f1), e1 = tb.tucker(x, 3, init="random", random_state=7, n_iter_max=3, tol=0, return_errors=True)
    (c2, f2), e2 = tb.tucker(x, 3, init="random", random_state=7, n_iter_max=3, tol=0, return_errors=True)
    np.testing.assert_array_equal(c1, c2)  # seeded: reproducible
    _, e3 = tb.tucker(x, 3, init="st_hosvd", n_iter_max=3, tol=0, return_errors=True)
    assert len(e3) == 3
    # warm start from a Tucker pair, one factor fixed
    start = tb.tucker(x, 3, n_iter_max=1)
    core, fs = tb.tucker(x, 3, init=start, fixed_factors=[1], n_iter_max=2)
    np.testing.assert_array_equal(fs[1], start[1][1])
    # tol stops early
    _, errs = tb.tucker(x, [3, 4, 2], tol=1e-1, return_errors=True)
    assert len(errs) == 3


def test_errors(x):
    with pytest.raises(ValueError, match="rank"):
        tb.tucker(x, [3, 4])
    with pytest.raises(ValueError):
        tb.tucker(x, [3, 40, 2])
    with pytest.raises(TypeError, match="float32 and float64"):
        tb.tucker(x.astype(np.complex128), 2)
    with pytest.raises(TypeError):
        tb.tucker(x.astype(np.int64), 2)
    with pytest.raises(ValueError, match="init"):
        tb.tucker(x, 2, init="nope")
    with pytest.raises(ValueError, match="non-finite"):
        y = x.copy()
        y[0, 0, 0] = np.nan
        tb.tucker(y, 2)
    with pytest.raises(ValueError, match="fixed_factors"):
        tb.tucker(x, 2, fixed_factors=[0])
