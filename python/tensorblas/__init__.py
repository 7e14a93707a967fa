"""tensorblas: strided-batched GEMM, tensor contractions, Tucker and the FMM-FFT on numpy arrays.

The heavy lifting is the Rust library (the same one behind the C ABI `libtensorblas`): arrays are
read and written in place through their own strides, and the GIL is released while it computes.

    >>> import numpy as np, tensorblas as tb
    >>> a = np.arange(24.0).reshape(2, 3, 4); b = np.ones((4, 5))
    >>> np.allclose(tb.matmul(a, b), a @ b)
    True
    >>> c = tb.einsum("mk,knp->mnp", np.ones((2, 3)), np.ones((3, 4, 5)))
    >>> c.shape, float(c[0, 0, 0])
    ((2, 4, 5), 3.0)

Functions:
    matmul(a, b, out=None)                      numpy.matmul on stacks, zero-copy
    einsum(spec, a, b, out=None, alpha=1, beta=0)  two-operand contraction, zero-copy
    explain(spec, a, b, out=None, dtype=None)   the plan einsum would run, one line
    tucker(X, rank, ...), partial_tucker(X, rank, modes=None, ...)   HOOI, TensorLy's API
    fft(x, n=None, axis=-1, norm=None, ...), ifft(...)   numpy.fft conventions, FMM-FFT
    set_num_threads(n), get_num_threads(), set_backend(name), get_backend(),
    available_backends(), isa()

Errors: a broken argument rule of the C API raises InvalidArgumentError (a ValueError with
`function`, `position`, `argument`, `rule`, `status`), a valid request this build cannot run
raises NotSupportedError (a ValueError), unsupported dtypes raise TypeError.
"""

import numbers

import numpy as _np

from ._tensorblas import (  # noqa: F401  (re-exported)
    InvalidArgumentError,
    NotSupportedError,
    __version__,
    available_backends,
    einsum,
    explain,
    get_backend,
    get_num_threads,
    isa,
    matmul,
    set_backend,
    set_num_threads,
)
from . import _tensorblas

__all__ = [
    "matmul",
    "einsum",
    "explain",
    "tucker",
    "partial_tucker",
    "fft",
    "ifft",
    "set_num_threads",
    "get_num_threads",
    "set_backend",
    "get_backend",
    "available_backends",
    "isa",
    "InvalidArgumentError",
    "NotSupportedError",
    "__version__",
]


def _seed(random_state):
    """A 64-bit seed from TensorLy's random_state conventions (None, int, RandomState, Generator)."""
    if random_state is None:
        return int(_np.random.randint(0, 2**63 - 1, dtype=_np.int64))
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"tensorblas.tucker: random_state = {random_state} must be >= 0")
        return int(random_state) % 2**64
    if isinstance(random_state, _np.random.RandomState):
        return int(random_state.randint(0, 2**63 - 1, dtype=_np.int64))
    if isinstance(random_state, _np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    raise TypeError(
        "tensorblas.tucker: random_state must be None, an int, a numpy RandomState or Generator"
    )


def _init_args(init):
    """(name, factors) for the native call: a string init or a Tucker tensor / factor list."""
    if isinstance(init, str):
        return init, None
    if isinstance(init, (tuple, list)) and len(init) == 2 and not isinstance(init[1], _np.ndarray):
        _core, factors = init  # a (core, factors) pair, as TensorLy's TuckerTensor unpacks
        return "factors", list(factors)
    if isinstance(init, (tuple, list)):
        return "factors", list(init)
    factors = getattr(init, "factors", None)
    if factors is not None:
        return "factors", list(factors)
    raise TypeError(
        "tensorblas.tucker: init must be 'svd', 'st_hosvd', 'random', a (core, factors) pair or a list of factors"
    )


def _ranks(rank, count, what):
    if isinstance(rank, numbers.Integral):
        return [int(rank)] * count
    rank = [int(r) for r in rank]
    if len(rank) != count:
        raise ValueError(f"tensorblas.{what}: {len(rank)} ranks given for {count} modes")
    return rank


def tucker(
    tensor,
    rank,
    fixed_factors=None,
    n_iter_max=100,
    init="svd",
    return_errors=False,
    tol=1e-4,
    random_state=None,
    solver="subspace",
):
    """Tucker decomposition by HOOI, with TensorLy's `tucker` signature and results.

    tensor: a float32 or float64 array of order >= 2, any strides (read in place).
    rank: an int (every mode) or one int per mode.
    init: 'svd' (HOSVD, TensorLy's default), 'st_hosvd', 'random' (seeded by random_state), or
        factors to start from (a (core, factors) pair or a list of I_n x R_n matrices).
    fixed_factors: modes whose factors stay as given by a factor init.
    n_iter_max, tol: TensorLy's stopping rule (stop after sweep k >= 3 when the relative error
        changed by less than tol; tol=0 runs n_iter_max sweeps).
    random_state: None, an int, a numpy RandomState or Generator (seeds 'random' init; the
        factors differ from TensorLy's for the same seed: the generators differ).
    solver: 'subspace' (default: warm-started subspace iteration with a dense fallback),
        'eigh' (dense eigensolver) or 'svd'.

    Returns (core, factors), or ((core, factors), errors) with return_errors=True, where errors
    are TensorLy's rec_errors (one per sweep).
    """
    x = _np.asarray(tensor)
    ranks = _ranks(rank, x.ndim, "tucker")
    name, factors = _init_args(init)
    if fixed_factors and factors is None:
        raise ValueError(
            "tensorblas.tucker: fixed_factors needs init given as factors or a (core, factors) pair"
        )
    core, fs, errors, _n_iter, _converged = _tensorblas._hooi(
        x,
        ranks,
        None,
        name,
        factors,
        int(n_iter_max),
        float(tol),
        _seed(random_state) if name == "random" else 0,
        [int(m) for m in (fixed_factors or [])],
        solver,
    )
    result = (core, fs)
    return (result, list(errors)) if return_errors else result


def partial_tucker(
    tensor,
    rank,
    modes=None,
    n_iter_max=100,
    init="svd",
    tol=1e-4,
    random_state=None,
    solver="subspace",
):
    """Tucker decomposition of the listed modes only, as TensorLy's `partial_tucker`.

    modes: the modes to decompose (default: all); rank: an int or one per listed mode. The other
    modes keep their full extent in the core. Returns ((core, factors), errors), TensorLy's
    result; factors has one matrix per listed mode.
    """
    x = _np.asarray(tensor)
    modes = list(range(x.ndim)) if modes is None else [int(m) for m in modes]
    ranks = _ranks(rank, len(modes), "partial_tucker")
    name, factors = _init_args(init)
    core, fs, errors, _n_iter, _converged = _tensorblas._hooi(
        x,
        ranks,
        modes,
        name,
        factors,
        int(n_iter_max),
        float(tol),
        _seed(random_state) if name == "random" else 0,
        [],
        solver,
    )
    return (core, fs), list(errors)


def _fft(x, n, axis, norm, inverse, devices, algorithm):
    a = _np.asarray(x)
    if a.dtype in (_np.float32, _np.complex64):
        ctype = _np.complex64
    elif a.dtype.kind in "biufc":
        ctype = _np.complex128
    else:
        raise TypeError(f"tensorblas.fft: x has dtype {a.dtype}; expected a numeric array")
    if a.ndim == 0:
        raise ValueError("tensorblas.fft: x must have at least one dimension")
    if norm not in (None, "backward", "ortho", "forward"):
        raise ValueError(f"tensorblas.fft: norm = {norm!r}; expected None, 'backward', 'ortho' or 'forward'")
    if n is None:
        n = a.shape[axis]
    n = int(n)
    if n < 1:
        raise ValueError(f"tensorblas.fft: invalid number of data points ({n}) specified")
    a = _np.moveaxis(a, axis, -1)
    m = a.shape[-1]
    if m > n:
        a = a[..., :n]
    elif m < n:
        pad = [(0, 0)] * (a.ndim - 1) + [(0, n - m)]
        a = _np.pad(a, pad)
    lead = a.shape[:-1]
    rows = _np.ascontiguousarray(a, dtype=ctype).reshape(-1, n)
    y, _used = _tensorblas._fft_rows(rows, inverse, int(devices), algorithm)
    # _fft_rows: forward unscaled, inverse scaled by 1/n ('backward', numpy's default)
    if norm == "ortho":
        y *= _np.sqrt(n) if inverse else 1.0 / _np.sqrt(n)
    elif norm == "forward":
        y *= n if inverse else 1.0 / n
    return _np.moveaxis(y.reshape(lead + (n,)), -1, axis)


def fft(x, n=None, axis=-1, norm=None, devices=1, algorithm="auto"):
    """numpy.fft.fft on the FMM-FFT (in-process devices).

    x is transformed along `axis` (padded with zeros or cropped to n points, as numpy does);
    float32/complex64 input runs in single precision and returns complex64, anything else
    numeric runs in double and returns complex128 (numpy >= 2 conventions). norm: None /
    'backward', 'ortho', 'forward'.

    devices: the G in-process devices of the FMM-FFT (a power of two; each runs with
    get_num_threads() // G threads). algorithm: 'auto' runs the FMM-FFT where it can plan the
    length (N = P * B * 2^L; docs/fmm-fft.md) and RustFFT otherwise; 'fmm' raises ValueError
    for a length the FMM cannot plan; 'rustfft' always uses RustFFT.
    """
    return _fft(x, n, axis, norm, False, devices, algorithm)


def ifft(x, n=None, axis=-1, norm=None, devices=1, algorithm="auto"):
    """numpy.fft.ifft on the FMM-FFT; arguments as for `fft`."""
    return _fft(x, n, axis, norm, True, devices, algorithm)
