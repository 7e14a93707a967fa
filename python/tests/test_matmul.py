"""tensorblas.matmul against numpy.matmul (the oracle): shapes, broadcasting, strides, out."""
import threading
import time

import numpy as np
import pytest

import tensorblas as tb
from conftest import DTYPES, rand, tol


def check(got, want, dtype):
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol(dtype) * scale * 10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "sa,sb",
    [
        ((4, 5), (5, 3)),
        ((1, 1), (1, 1)),
        ((7, 4, 5), (7, 5, 3)),
        ((7, 4, 5), (5, 3)),  # b broadcast
        ((4, 5), (6, 5, 3)),  # a broadcast
        ((2, 1, 4, 5), (3, 5, 6)),  # batch dims broadcast against each other
        ((2, 3, 4, 5), (2, 3, 5, 6)),
        ((5,), (5, 3)),  # 1-D a
        ((4, 5), (5,)),  # 1-D b
        ((6, 4, 5), (5,)),
        ((5,), (6, 5, 3)),
        ((0, 4, 5), (5, 3)),  # empty batch
        ((4, 0), (0, 3)),  # k = 0: zeros
        ((3, 0, 5), (3, 5, 2)),  # m = 0
    ],
)
def test_matches_numpy(rng, dtype, sa, sb):
    a, b = rand(rng, sa, dtype), rand(rng, sb, dtype)
    check(tb.matmul(a, b), np.matmul(a, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vector_vector_is_a_scalar(rng, dtype):
    a, b = rand(rng, (6,), dtype), rand(rng, (6,), dtype)
    got, want = tb.matmul(a, b), np.matmul(a, b)
    assert np.ndim(got) == 0 and not isinstance(got, np.ndarray)
    assert abs(got - want) <= tol(dtype) * 100


@pytest.mark.parametrize("dtype", DTYPES)
def test_any_strides_in_place(rng, dtype):
    base_a = rand(rng, (9, 12, 10), dtype)
    base_b = rand(rng, (10, 14, 9), dtype)
    views = [
        (base_a[:, :5, :4], base_b[:4, :3, :].transpose(2, 0, 1)),  # b's dims permuted
        (base_a[::2, 1::2, ::3], base_b[:4, ::3, :5].transpose(2, 0, 1)),
        (base_a[::-1, :6, ::-2], base_b[:5, :7, ::-1].transpose(2, 0, 1)),  # negative strides
        (base_a[0].T, base_b[:, :, 0]),  # Fortran order
    ]
    for a, b in views:
        k = min(a.shape[-1], b.shape[-2])
        a, b = a[..., :k], b[..., :k, :]
        if a.ndim == 3 and b.ndim == 3:
            nb = min(a.shape[0], b.shape[0])
            a, b = a[:nb], b[:nb]
        want = np.matmul(a, b)
        check(tb.matmul(a, b), want, dtype)


def test_mixed_types_promote_like_numpy(rng):
    a = rand(rng, (3, 4), np.float32)
    b = rand(rng, (4, 2), np.complex128)
    got = tb.matmul(a, b)
    assert got.dtype == np.complex128
    check(got, np.matmul(a, b), np.complex64)
    got = tb.matmul([[1.0, 2.0]], [[3.0], [4.0]])  # array-likes
    assert got.dtype == np.float64 and got[0, 0] == 11.0


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float16, np.bool_, object])
def test_other_dtypes_raise_typeerror(dtype):
    a = np.ones((2, 2), dtype=dtype)
    with pytest.raises(TypeError, match="dtype"):
        tb.matmul(a, a)


def test_shape_errors_are_valueerrors():
    with pytest.raises(ValueError, match="core dimension"):
        tb.matmul(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="broadcast"):
        tb.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 2)))
    with pytest.raises(ValueError, match="enough dimensions"):
        tb.matmul(np.float64(1.0), np.ones((1, 1)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_written_in_place_and_returned(rng, dtype):
    a, b = rand(rng, (5, 3, 4), dtype), rand(rng, (5, 4, 6), dtype)
    out = np.full((5, 3, 6), np.nan, dtype=dtype)
    r = tb.matmul(a, b, out=out)
    assert r is out
    check(out, np.matmul(a, b), dtype)
    # a strided out (every other row of a bigger array); the rest untouched
    big = np.full((5, 6, 6), 7, dtype=dtype)
    r = tb.matmul(a, b, out=big[:, ::2, :])
    check(big[:, ::2, :], np.matmul(a, b), dtype)
    assert np.all(big[:, 1::2, :] == 7)


def test_out_overlapping_an_input_gives_numpys_result(rng):
    a = rand(rng, (4, 4), np.float64)
    b = rand(rng, (4, 4), np.float64)
    want = np.matmul(a, b)
    tb.matmul(a, b, out=a)  # out is an input
    np.testing.assert_allclose(a, want, atol=1e-12)
    x = rand(rng, (3, 4, 4), np.float64)
    want = np.matmul(x[0], x[1])
    tb.matmul(x[0], x[1], out=x[1])
    np.testing.assert_allclose(x[1], want, atol=1e-12)


def test_out_errors():
    a, b = np.ones((2, 3)), np.ones((3, 4))
    with pytest.raises(ValueError, match="shape"):
        tb.matmul(a, b, out=np.empty((2, 5)))
    with pytest.raises(TypeError, match="dtype"):
        tb.matmul(a, b, out=np.empty((2, 4), dtype=np.float32))
    ro = np.empty((2, 4))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        tb.matmul(a, b, out=ro)
    with pytest.raises(TypeError, match="ndarray"):
        tb.matmul(a, b, out=[[0.0] * 4] * 2)


def test_self_overlapping_out_goes_through_a_copy():
    a, b = np.ones((3, 2, 2)), np.ones((3, 2, 2))
    base = np.zeros(8)
    out = np.lib.stride_tricks.as_strided(base, shape=(3, 2, 2), strides=(8, 16, 8), writeable=True)
    want = np.zeros(8)
    np.copyto(np.lib.stride_tricks.as_strided(want, shape=(3, 2, 2), strides=(8, 16, 8), writeable=True),
              np.matmul(a, b))
    tb.matmul(a, b, out=out)
    np.testing.assert_array_equal(base, want)


def test_unaligned_input_is_copied(rng):
    buf = np.zeros(8 * 17 + 1, dtype=np.uint8)
    a = np.frombuffer(buf.data, dtype=np.float64, count=16, offset=1).reshape(4, 4)
    assert not a.flags.aligned
    b = rand(rng, (4, 4), np.float64)
    check(tb.matmul(a, b), np.matmul(a, b), np.float64)


def test_big_stack_and_threads(rng):
    a, b = rand(rng, (2000, 8, 8), np.float32), rand(rng, (2000, 8, 8), np.float32)
    want = np.matmul(a, b)
    for n in (1, 2):
        tb.set_num_threads(n)
        assert tb.get_num_threads() == n
        check(tb.matmul(a, b), want, np.float32)


def test_gil_released_during_compute(rng):
    a = rand(rng, (40, 400, 400), np.float64)
    ticks = []
    done = threading.Event()

    def work():
        tb.matmul(a, a)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    # The main thread kept running Python while the other computed (with the GIL held it
    # could not have ticked more than once or twice).
    assert len(ticks) >= 5
