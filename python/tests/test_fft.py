"""tensorblas.fft / ifft against numpy.fft (the oracle)."""
import numpy as np
import pytest

import tensorblas as tb


def crand(rng, shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


@pytest.mark.parametrize("n", [256, 1024, 4096])
@pytest.mark.parametrize("devices", [1, 2])
def test_fmm_lengths_match_numpy(rng, n, devices):
    x = crand(rng, n)
    for inverse, ours, theirs in [(False, tb.fft, np.fft.fft), (True, tb.ifft, np.fft.ifft)]:
        got = ours(x, devices=devices, algorithm="fmm")
        want = theirs(x)
        assert got.dtype == np.complex128
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-10


def test_single_precision(rng):
    x = crand(rng, 1024).astype(np.complex64)
    got = tb.fft(x)
    assert got.dtype == np.complex64
    want = np.fft.fft(x.astype(np.complex128))
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-4


def test_numpy_conventions(rng):
    x = rng.standard_normal((3, 512, 2))  # real input, transform along axis 1
    for norm in [None, "backward", "ortho", "forward"]:
        got = tb.fft(x, axis=1, norm=norm)
        want = np.fft.fft(x, axis=1, norm=norm)
        np.testing.assert_allclose(got, want, atol=1e-9 * np.abs(want).max())
        back = tb.ifft(got, axis=1, norm=norm)
        np.testing.assert_allclose(back, x, atol=1e-10)
    # n pads or crops as numpy does
    np.testing.assert_allclose(tb.fft(x[0, :, 0], n=1024), np.fft.fft(x[0, :, 0], n=1024), atol=1e-9)
    np.testing.assert_allclose(tb.fft(x[0, :, 0], n=300), np.fft.fft(x[0, :, 0], n=300), atol=1e-9)


@pytest.mark.parametrize("n", [1, 7, 100, 1000, 97])
def test_lengths_the_fmm_cannot_plan_fall_back(rng, n):
    x = crand(rng, n)
    np.testing.assert_allclose(tb.fft(x), np.fft.fft(x), atol=1e-9 * max(1, n))
    np.testing.assert_allclose(tb.ifft(x), np.fft.ifft(x), atol=1e-9)
    with pytest.raises(ValueError, match="FMM-FFT plan|M = N/P|sections|tree"):
        tb.fft(x, algorithm="fmm")


def test_errors(rng):
    with pytest.raises(ValueError, match="devices"):
        tb.fft(crand(rng, 64), devices=3)
    with pytest.raises(ValueError, match="norm"):
        tb.fft(crand(rng, 64), norm="both")
    with pytest.raises(ValueError, match="algorithm"):
        tb.fft(crand(rng, 64), algorithm="dft")
    with pytest.raises(TypeError):
        tb.fft(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="data points"):
        tb.fft(crand(rng, 8), n=0)
