"""Threads, backends, errors, the version."""
import numpy as np
import pytest

import tensorblas as tb


def test_version_and_isa():
    assert tb.__version__ == "0.1.0"
    assert tb.isa() in ("Avx512", "Avx2", "Portable")


def test_threads():
    old = tb.get_num_threads()
    tb.set_num_threads(1)
    assert tb.get_num_threads() == 1
    with pytest.raises(ValueError, match="must be >= 1"):
        tb.set_num_threads(0)
    tb.set_num_threads(old)


@pytest.mark.parametrize("name", ["native", "reference", "auto"])
def test_backends_give_the_same_products(name):
    assert name in tb.available_backends()
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((9, 7, 5)), rng.standard_normal((9, 5, 6))
    old = tb.get_backend()
    try:
        tb.set_backend(name)
        assert tb.get_backend() == name
        np.testing.assert_allclose(tb.matmul(a, b), a @ b, atol=1e-12)
    finally:
        tb.set_backend(old)


def test_unknown_or_missing_backend():
    with pytest.raises(tb.NotSupportedError, match="unknown CPU backend"):
        tb.set_backend("cublas-on-cpu")
    missing = [b for b in ("openblas", "mkl") if b not in tb.available_backends()]
    for b in missing:
        with pytest.raises(tb.NotSupportedError, match="not compiled"):
            tb.set_backend(b)


def _forked_product(q, a, b, ref):
    q.put(bool(np.allclose(tb.matmul(a, b), ref)))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork()")
def test_a_forked_child_still_computes_threaded_calls():
    # The parent's calls start the worker team; a fork()ed child has none of its threads. Its
    # threaded calls must still finish, every part on the calling thread (not hang waiting).
    import multiprocessing as mp

    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((256, 64, 64)), rng.standard_normal((256, 64, 64))
    ref = np.matmul(a, b)
    old = tb.get_num_threads()
    tb.set_num_threads(2)
    try:
        np.testing.assert_allclose(tb.matmul(a, b), ref, rtol=1e-12, atol=1e-12)
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=_forked_product, args=(q, a, b, ref))
        p.start()
        p.join(60)
        assert p.exitcode == 0, "the forked child did not finish"
        assert q.get(timeout=5)
    finally:
        tb.set_num_threads(old)
