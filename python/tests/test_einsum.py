"""tensorblas.einsum / explain against numpy.einsum (the oracle)."""
import numpy as np
import pytest

import tensorblas as tb
from conftest import DTYPES, rand, tol


def cases():
    """The 36 contractions of the paper (docs/contraction.md): A in {mk, km, nk, kn, pk, kp},
    B the other two free modes and k in every order, C = mnp."""
    out = []
    for a in ["mk", "km", "nk", "kn", "pk", "kp"]:
        free = [c for c in a if c != "k"][0]
        x, y = [c for c in "mnp" if c != free]
        for b in [f"k{x}{y}", f"k{y}{x}", f"{x}k{y}", f"{y}k{x}", f"{x}{y}k", f"{y}{x}k"]:
            out.append(f"{a},{b}->mnp")
    return out


EXT = {"m": 5, "n": 4, "k": 6, "p": 3}


def operand(rng, letters, dtype, order):
    return np.asarray(rand(rng, tuple(EXT[c] for c in letters), dtype), order=order)


@pytest.mark.parametrize("spec", cases())
@pytest.mark.parametrize("order", ["C", "F"])
def test_36_cases_match_numpy(rng, spec, order):
    for dtype in DTYPES:
        ins = spec.split("->")[0].split(",")
        a, b = (operand(rng, s, dtype, order) for s in ins)
        want = np.einsum(spec, a, b)
        got = tb.einsum(spec, a, b)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=tol(dtype) * 50)


@pytest.mark.parametrize("dtype", DTYPES)
def test_alpha_beta_and_out_in_place(rng, dtype):
    a, b = rand(rng, (5, 6), dtype), rand(rng, (6, 4, 3), dtype)
    c0 = rand(rng, (5, 4, 3), dtype)
    out = c0.copy()
    alpha, beta = (2 - 1j, 0.5 + 1j) if np.dtype(dtype).kind == "c" else (2.0, 0.5)
    r = tb.einsum("mk,knp->mnp", a, b, out=out, alpha=alpha, beta=beta)
    assert r is out
    want = alpha * np.einsum("mk,knp->mnp", a, b) + beta * c0
    np.testing.assert_allclose(out, want, atol=tol(dtype) * 100)
    # a strided, transposed out view
    big = np.zeros((3, 8, 5), dtype=dtype)
    view = big[:, ::2, :].transpose(2, 1, 0)
    tb.einsum("mk,knp->mnp", a, b, out=view)
    np.testing.assert_allclose(view, np.einsum("mk,knp->mnp", a, b), atol=tol(dtype) * 100)
    assert np.all(big[:, 1::2, :] == 0)


def test_implicit_output_and_scalars(rng):
    a, b = rand(rng, (3, 4), np.float64), rand(rng, (4, 5), np.float64)
    np.testing.assert_allclose(tb.einsum("ij,jk", a, b), np.einsum("ij,jk", a, b), atol=1e-12)
    np.testing.assert_allclose(tb.einsum("ba,ac", a, b), np.einsum("ba,ac", a, b), atol=1e-12)
    x, y = rand(rng, (7,), np.float64), rand(rng, (7,), np.float64)
    got = tb.einsum("i,i->", x, y)
    assert np.ndim(got) == 0
    assert abs(got - x @ y) < 1e-12


def test_negative_strides_and_broadcast_inputs(rng):
    a = rand(rng, (6, 5), np.float64)[::-1, ::-1]
    b = np.broadcast_to(rand(rng, (1, 4), np.float64), (5, 4))  # zero stride
    np.testing.assert_allclose(tb.einsum("mk,kn->mn", a, b), a @ b, atol=1e-12)


def test_out_overlapping_an_input(rng):
    a = rand(rng, (4, 4), np.float64)
    b = rand(rng, (4, 4), np.float64)
    want = 2 * (a @ b) + a
    tb.einsum("ij,jk->ik", a, b, out=a, alpha=2, beta=1)
    np.testing.assert_allclose(a, want, atol=1e-12)


def test_errors():
    a, b = np.ones((2, 3)), np.ones((3, 4))
    with pytest.raises(tb.InvalidArgumentError) as e:
        tb.einsum("mk,kn->mn", a, np.ones((5, 4)))
    assert isinstance(e.value, ValueError)
    assert e.value.function == "tblas_einsum" and e.value.position >= 1 and e.value.status == 7
    assert "argument" in str(e.value)
    with pytest.raises(tb.NotSupportedError, match="ellipsis"):
        tb.einsum("...k,kn->...n", a, b)
    with pytest.raises(ValueError, match="exactly two"):
        tb.einsum("mk,kn,np->mp", a, b)
    with pytest.raises(ValueError, match="dimensions"):
        tb.einsum("mkx,kn->mn", a, b)
    with pytest.raises(ValueError, match="appears in no input"):
        tb.einsum("mk,kn->mnq", a, b)
    with pytest.raises(TypeError, match="complex"):
        tb.einsum("mk,kn->mn", a, b, alpha=1j)
    with pytest.raises(TypeError, match="dtype"):
        tb.einsum("mk,kn->mn", a.astype(np.int64), b)


def test_explain_names_the_plan(rng):
    a, b = np.ones((5, 6), order="F"), np.ones((6, 4, 3), order="F")
    line = tb.explain("mk,knp->mnp", a, b, out=np.empty((5, 4, 3), order="F"))
    assert "gemm" in line and "no copy" in line
    line2 = tb.explain("mk,knp->mnp", (5, 6), (6, 4, 3))
    assert isinstance(line2, str) and line2
    assert tb.explain("mk,knp->mnp", (5, 6), (6, 4, 3), dtype=np.float32)
    with pytest.raises(TypeError):
        tb.explain("mk,knp->mnp", (5, 6), (6, 4, 3), dtype=np.int32)
