//! `tensorblas._tensorblas`: the native half of the Python package (python/tensorblas is the
//! other). numpy arrays are read and written in place through their own strides (no copies on
//! the common paths); the GIL is released while tensorblas computes.
//!
//! Memory rules, checked before any pointer is handed to tensorblas:
//! - an input is used in place when it is aligned and its strides are whole elements (einsum,
//!   Tucker: also non-negative); otherwise it is copied once with `numpy.ascontiguousarray`;
//! - an `out` is written in place when it is aligned, its strides are whole elements (einsum:
//!   non-negative), no two of its elements share memory (checked by the sorted-stride rule) and
//!   its memory does not overlap an input's; otherwise the result goes to a fresh array that
//!   is copied into `out` (`numpy.copyto`) after the call.
//!
//! So every pointer tensorblas receives addresses only elements of a live numpy array (the
//! `Bound` references held across the call keep them alive), and no written element is read or
//! written by another operand during the call.

use numpy::npyffi::flags::{NPY_ARRAY_ALIGNED, NPY_ARRAY_WRITEABLE};
use numpy::prelude::*;
use numpy::{dtype, Element, PyArrayDescr, PyArrayDyn, PyUntypedArray};
use pyo3::create_exception;
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tensorblas::{
    Complex32, Complex64, CpuBackend, Handle, Op, Scalar, Shape, StridedMut, StridedRef, TensorMut, TensorRef,
};
use tensorblas_fft::{Algorithm, Plan as FftPlan, PlanSpec, Precision};
use tensorblas_tucker::{Init, Matrix, Options, Solver, TensorView, TuckerError};

create_exception!(
    tensorblas,
    InvalidArgumentError,
    PyValueError,
    "An argument broke a rule of the C API; `function`, `position` (1-based in the C \
     signature), `argument`, `rule` and `status` say which."
);
create_exception!(
    tensorblas,
    NotSupportedError,
    PyValueError,
    "A valid request this build or backend cannot perform (TBLAS_STATUS_NOT_SUPPORTED)."
);

/// The handle every call runs on (replaced by `set_backend`).
static HANDLE: RwLock<Option<Arc<Handle>>> = RwLock::new(None);

fn handle() -> PyResult<Arc<Handle>> {
    if let Some(h) = HANDLE.read().map_err(|_| poisoned())?.as_ref() {
        return Ok(h.clone());
    }
    let mut w = HANDLE.write().map_err(|_| poisoned())?;
    if w.is_none() {
        *w = Some(Arc::new(Handle::new().map_err(blas_err)?));
    }
    Ok(w.as_ref().expect("set above").clone())
}

fn poisoned() -> PyErr {
    PyRuntimeError::new_err("tensorblas: the handle lock was poisoned by a panic")
}

/// A tensorblas error as the Python exception a user of the C API would expect.
fn blas_err(e: tensorblas::Error) -> PyErr {
    let status = e.status();
    let err = match &e {
        tensorblas::Error::InvalidArgument {
            function,
            position,
            name,
            rule,
        } => {
            let err = InvalidArgumentError::new_err(e.to_string());
            Python::attach(|py| {
                let v = err.value(py);
                let _ = v.setattr("function", *function);
                let _ = v.setattr("position", *position);
                let _ = v.setattr("argument", *name);
                let _ = v.setattr("rule", rule.as_str());
            });
            err
        }
        tensorblas::Error::NotSupported(m) => NotSupportedError::new_err(m.clone()),
        tensorblas::Error::Alloc(m) => PyMemoryError::new_err(m.clone()),
        _ => PyRuntimeError::new_err(e.to_string()),
    };
    Python::attach(|py| {
        let _ = err.value(py).setattr("status", status);
    });
    err
}

fn tucker_err(e: TuckerError) -> PyErr {
    match e {
        TuckerError::Blas(b) => blas_err(b),
        TuckerError::Solver(m) => PyRuntimeError::new_err(format!("tensorblas.tucker: {m}")),
        other => PyValueError::new_err(format!("tensorblas.tucker: {other}")),
    }
}

fn fft_err(e: tensorblas_fft::FftError) -> PyErr {
    match e {
        tensorblas_fft::FftError::Blas(b) => blas_err(b),
        tensorblas_fft::FftError::Device(..) => PyRuntimeError::new_err(format!("tensorblas.fft: {e}")),
        other => PyValueError::new_err(format!("tensorblas.fft: {other}")),
    }
}

/// The four element types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    S,
    D,
    C,
    Z,
}

impl Ty {
    fn of(py: Python<'_>, a: &Bound<'_, PyUntypedArray>) -> Option<Ty> {
        Ty::of_descr(py, &a.dtype())
    }

    fn of_descr(py: Python<'_>, d: &Bound<'_, PyArrayDescr>) -> Option<Ty> {
        [
            (Ty::S, dtype::<f32>(py)),
            (Ty::D, dtype::<f64>(py)),
            (Ty::C, dtype::<Complex32>(py)),
            (Ty::Z, dtype::<Complex64>(py)),
        ]
        .into_iter()
        .find(|(_, t)| d.is_equiv_to(t))
        .map(|(ty, _)| ty)
    }

    fn complex(self) -> bool {
        matches!(self, Ty::C | Ty::Z)
    }

    fn double(self) -> bool {
        matches!(self, Ty::D | Ty::Z)
    }

    /// numpy's promotion within the four types.
    fn join(self, o: Ty) -> Ty {
        match (self.complex() || o.complex(), self.double() || o.double()) {
            (false, false) => Ty::S,
            (false, true) => Ty::D,
            (true, false) => Ty::C,
            (true, true) => Ty::Z,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Ty::S => "float32",
            Ty::D => "float64",
            Ty::C => "complex64",
            Ty::Z => "complex128",
        }
    }
}

fn numpy(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("numpy")
}

/// `obj` as a numpy array (array-likes through `numpy.asarray`).
fn as_array<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return Ok(a.clone());
    }
    let a = numpy(py)?.getattr("asarray")?.call1((obj,))?;
    Ok(a.cast_into::<PyUntypedArray>()?)
}

/// The element type of operand `which` of `func`, or the TypeError numpy users expect.
fn ty_of(py: Python<'_>, d: &Bound<'_, PyArrayDescr>, func: &str, which: &str) -> PyResult<Ty> {
    Ty::of_descr(py, d).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "tensorblas.{func}: {which} has dtype {d}; supported: float32, float64, complex64, complex128"
        ))
    })
}

/// Two operands brought to their common type (numpy's promotion; a copy only when they differ).
fn operands<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    func: &str,
) -> PyResult<(Ty, Bound<'py, PyUntypedArray>, Bound<'py, PyUntypedArray>)> {
    let (a, b) = (as_array(py, a)?, as_array(py, b)?);
    let (ta, tb) = (ty_of(py, &a.dtype(), func, "a")?, ty_of(py, &b.dtype(), func, "b")?);
    let t = ta.join(tb);
    let cast = |x: Bound<'py, PyUntypedArray>, tx: Ty| -> PyResult<Bound<'py, PyUntypedArray>> {
        if tx == t {
            Ok(x)
        } else {
            Ok(x.call_method1("astype", (t.name(),))?.cast_into::<PyUntypedArray>()?)
        }
    };
    Ok((t, cast(a, ta)?, cast(b, tb)?))
}

/// What tensorblas needs to know of a numpy array: origin, extents, strides in elements.
#[derive(Clone, Debug)]
struct Raw {
    ptr: *mut u8,
    shape: Vec<usize>,
    /// In elements (`None`: a stride is not a whole number of elements or the data is unaligned).
    strides: Option<Vec<isize>>,
    byte_strides: Vec<isize>,
    itemsize: usize,
    writeable: bool,
}

impl Raw {
    fn of(a: &Bound<'_, PyUntypedArray>) -> Raw {
        // SAFETY: `a` is a live numpy array; reading its header fields is what numpy's own
        // accessors do.
        let (ptr, flags) = unsafe {
            let p = a.as_array_ptr();
            ((*p).fields.data as *mut u8, (*p).fields.flags)
        };
        let itemsize = a.dtype().itemsize();
        let byte_strides = a.strides().to_vec();
        let aligned = flags & NPY_ARRAY_ALIGNED != 0 && (ptr as usize).is_multiple_of(itemsize.max(1));
        let whole = byte_strides.iter().all(|s| s % itemsize as isize == 0);
        Raw {
            ptr,
            shape: a.shape().to_vec(),
            strides: (aligned && whole).then(|| byte_strides.iter().map(|s| s / itemsize as isize).collect()),
            byte_strides,
            itemsize,
            writeable: flags & NPY_ARRAY_WRITEABLE != 0,
        }
    }

    fn size(&self) -> usize {
        self.shape.iter().product()
    }

    /// The bytes the elements occupy, `[lo, hi)` (empty for an empty array).
    fn span(&self) -> (usize, usize) {
        if self.size() == 0 {
            return (0, 0);
        }
        let (mut lo, mut hi) = (self.ptr as isize, self.ptr as isize);
        for (&e, &s) in self.shape.iter().zip(&self.byte_strides) {
            let d = (e as isize - 1) * s;
            if d < 0 {
                lo += d;
            } else {
                hi += d;
            }
        }
        (lo as usize, hi as usize + self.itemsize)
    }

    fn overlaps(&self, o: &Raw) -> bool {
        let (a, b) = (self.span(), o.span());
        a.0 < a.1 && b.0 < b.1 && a.0 < b.1 && b.0 < a.1
    }

    /// No two elements share memory: with the dimensions sorted by |stride|, each stride
    /// exceeds the reach of all smaller ones (sufficient; numpy's own quick test).
    fn no_self_overlap(&self) -> bool {
        let mut d: Vec<(usize, usize)> = self
            .shape
            .iter()
            .zip(&self.byte_strides)
            .filter(|(&e, _)| e > 1)
            .map(|(&e, &s)| (s.unsigned_abs(), e))
            .collect();
        d.sort_unstable();
        let mut reach = self.itemsize;
        for (s, e) in d {
            if s < reach {
                return false;
            }
            reach += s * (e - 1);
        }
        true
    }

    /// The element strides as `usize` (callers made sure they are non-negative: `usable(.., true)`).
    fn ustrides(&self) -> Vec<usize> {
        let s = self.strides.as_ref().expect("element strides");
        debug_assert!(s.iter().all(|&x| x >= 0), "non-negative strides");
        s.iter().map(|&x| x as usize).collect()
    }

    fn nonneg(&self) -> bool {
        self.strides.as_ref().is_some_and(|s| s.iter().all(|&x| x >= 0))
    }
}

/// An input usable in place (`Raw::strides` present and, with `nonneg`, no negative stride), else
/// a C-contiguous copy.
fn usable<'py>(
    py: Python<'py>,
    a: Bound<'py, PyUntypedArray>,
    nonneg: bool,
) -> PyResult<(Bound<'py, PyUntypedArray>, Raw)> {
    let r = Raw::of(&a);
    if r.strides.is_some() && (!nonneg || r.nonneg()) {
        return Ok((a, r));
    }
    let c = c_copy(py, &a)?;
    let r = Raw::of(&c);
    Ok((c, r))
}

/// A C-order copy (new memory, hence aligned).
fn c_copy<'py>(py: Python<'py>, a: &Bound<'py, PyUntypedArray>) -> PyResult<Bound<'py, PyUntypedArray>> {
    let kw = PyDict::new(py);
    kw.set_item("order", "C")?;
    kw.set_item("copy", true)?;
    Ok(numpy(py)?
        .getattr("array")?
        .call((a,), Some(&kw))?
        .cast_into::<PyUntypedArray>()?)
}

/// A new C-order array (`zeroed`: filled with zeros, else uninitialised).
fn new_array<'py, T: Element>(py: Python<'py>, shape: &[usize], zeroed: bool) -> Bound<'py, PyUntypedArray> {
    let a = if zeroed {
        PyArrayDyn::<T>::zeros(py, shape.to_vec(), false)
    } else {
        // SAFETY: the caller writes every element before Python can read it (beta = 0 calls
        // overwrite C; empty arrays have nothing to write).
        unsafe { PyArrayDyn::<T>::new(py, shape.to_vec(), false) }
    };
    a.into_any()
        .cast_into::<PyUntypedArray>()
        .expect("a new array is an ndarray")
}

/// Where the result goes: `out` itself, or (`copy_back`) a fresh array copied into `out` after.
struct Target<'py> {
    arr: Bound<'py, PyUntypedArray>,
    raw: Raw,
    copy_back: Option<Bound<'py, PyUntypedArray>>,
}

/// Checks `out` against the result's type and shape and decides whether to write it in place.
/// `keep`: the temporary must start as a copy of `out` (beta != 0).
#[allow(clippy::too_many_arguments)]
fn target<'py, T: Element>(
    py: Python<'py>,
    func: &str,
    out: Option<&Bound<'py, PyAny>>,
    ty: Ty,
    shape: &[usize],
    inputs: &[&Raw],
    nonneg: bool,
    keep: bool,
) -> PyResult<Target<'py>> {
    let Some(o) = out else {
        let arr = new_array::<T>(py, shape, keep);
        let raw = Raw::of(&arr);
        return Ok(Target {
            arr,
            raw,
            copy_back: None,
        });
    };
    let o = o
        .cast::<PyUntypedArray>()
        .map_err(|_| PyTypeError::new_err(format!("tensorblas.{func}: out must be a numpy.ndarray")))?
        .clone();
    if Ty::of(py, &o) != Some(ty) {
        return Err(PyTypeError::new_err(format!(
            "tensorblas.{func}: out has dtype {}, the result is {}",
            o.dtype(),
            ty.name()
        )));
    }
    if o.shape() != shape {
        return Err(PyValueError::new_err(format!(
            "tensorblas.{func}: out has shape {:?}, the result has shape {:?}",
            o.shape(),
            shape
        )));
    }
    let raw = Raw::of(&o);
    if !raw.writeable {
        return Err(PyValueError::new_err(format!("tensorblas.{func}: out is read-only")));
    }
    let direct = raw.strides.is_some()
        && (!nonneg || raw.nonneg())
        && raw.no_self_overlap()
        && inputs.iter().all(|i| !raw.overlaps(i));
    if direct {
        return Ok(Target {
            arr: o,
            raw,
            copy_back: None,
        });
    }
    let arr = if keep {
        c_copy(py, &o)?
    } else {
        new_array::<T>(py, shape, false)
    };
    let raw = Raw::of(&arr);
    Ok(Target {
        arr,
        raw,
        copy_back: Some(o),
    })
}

impl<'py> Target<'py> {
    /// Copies a temporary into `out`; returns what the caller gets back.
    fn finish(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.copy_back {
            Some(o) => {
                numpy(py)?.getattr("copyto")?.call1((&o, &self.arr))?;
                Ok(o.into_any())
            }
            None => Ok(self.arr.into_any()),
        }
    }
}

/// Raises a pending KeyboardInterrupt (Ctrl-C during the GIL-free computation) after the
/// computation finished, saying that `out` holds the complete result.
fn after_compute(py: Python<'_>, func: &str) -> PyResult<()> {
    if let Err(e) = py.check_signals() {
        let note = format!(
            "tensorblas.{func}: the interrupt arrived during the computation, which ran to its end: \
             out (if given) holds the complete result"
        );
        let _ = e.value(py).call_method1("add_note", (note,));
        return Err(e);
    }
    Ok(())
}

/// Raw pointers moved into the GIL-free closure.
struct SendPtr<T>(T);
// SAFETY: the pointers address numpy memory kept alive by `Bound` references the caller holds
// across `Python::detach`, and the memory rules at the top of this file exclude conflicting
// accesses; nothing else is shared.
unsafe impl<T> Send for SendPtr<T> {}

impl<T> SendPtr<T> {
    fn get(self) -> T {
        self.0
    }
}

/// Extracts alpha/beta for element type T (a complex value for a real type is a TypeError
/// unless its imaginary part is zero).
fn scalar<T: Scalar>(v: &Bound<'_, PyAny>, func: &str, name: &str) -> PyResult<T> {
    let c: Complex64 = v
        .extract()
        .map_err(|_| PyTypeError::new_err(format!("tensorblas.{func}: {name} must be a number")))?;
    if !T::IS_COMPLEX && c.im != 0.0 {
        return Err(PyTypeError::new_err(format!(
            "tensorblas.{func}: {name} = {c} is complex but the operands are real"
        )));
    }
    Ok(T::from_c64(c))
}

/// The element types the GEMM paths run on.
trait El: Scalar + Element {}
impl<T: Scalar + Element> El for T {}

macro_rules! by_type {
    ($ty:expr, $f:ident ( $($arg:expr),* )) => {
        match $ty {
            Ty::S => $f::<f32>($($arg),*),
            Ty::D => $f::<f64>($($arg),*),
            Ty::C => $f::<Complex32>($($arg),*),
            Ty::Z => $f::<Complex64>($($arg),*),
        }
    };
}

// ---------------------------------------------------------------------------------------------
// matmul

/// numpy's `matmul` on tensorblas: stacks broadcast like numpy's, any strides (general-stride
/// batched GEMM on the arrays' own memory), float32/float64/complex64/complex128.
#[pyfunction]
#[pyo3(signature = (a, b, out = None))]
fn matmul<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (ty, a, b) = operands(py, a, b, "matmul")?;
    by_type!(ty, matmul_t(py, ty, a, b, out))
}

/// One operand's matrix dimensions: (rows, cols, row stride, col stride, batch extents, batch
/// strides), a 1-D operand promoted as numpy does (a row for `a`, a column for `b`).
type Mat = (usize, usize, isize, isize, Vec<usize>, Vec<isize>);

fn mat(r: &Raw, first: bool) -> Mat {
    let s = r.strides.as_ref().expect("usable() gave element strides");
    let n = r.shape.len();
    if n == 1 {
        return if first {
            (1, r.shape[0], 0, s[0], vec![], vec![])
        } else {
            (r.shape[0], 1, s[0], 0, vec![], vec![])
        };
    }
    (
        r.shape[n - 2],
        r.shape[n - 1],
        s[n - 2],
        s[n - 1],
        r.shape[..n - 2].to_vec(),
        s[..n - 2].to_vec(),
    )
}

fn matmul_t<'py, T: El>(
    py: Python<'py>,
    ty: Ty,
    a: Bound<'py, PyUntypedArray>,
    b: Bound<'py, PyUntypedArray>,
    out: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    for (i, x) in [&a, &b].iter().enumerate() {
        if x.ndim() == 0 {
            return Err(PyValueError::new_err(format!(
                "tensorblas.matmul: input operand {i} does not have enough dimensions (has 0, \
                 matmul requires 1: signature (n?,k),(k,m?)->(n?,m?))"
            )));
        }
    }
    let (a, ra) = usable(py, a, false)?;
    let (b, rb) = usable(py, b, false)?;
    let (m, k, ars, acs, abx, abs_) = mat(&ra, true);
    let (k2, n, brs, bcs, bbx, bbs) = mat(&rb, false);
    if k != k2 {
        return Err(PyValueError::new_err(format!(
            "tensorblas.matmul: input operand 1 has a mismatch in its core dimension 0, with \
             signature (n?,k),(k,m?)->(n?,m?) (size {k2} is different from {k})"
        )));
    }
    // Broadcast the batch dimensions (right-aligned, numpy's rule).
    let nb = abx.len().max(bbx.len());
    let mut ext = vec![0usize; nb];
    let (mut sa, mut sb) = (vec![0isize; nb], vec![0isize; nb]);
    for d in 0..nb {
        let pick = |x: &[usize], s: &[isize]| -> (usize, isize) {
            let off = nb - x.len();
            if d < off {
                (1, 0)
            } else {
                (x[d - off], s[d - off])
            }
        };
        let ((ea, xa), (eb, xb)) = (pick(&abx, &abs_), pick(&bbx, &bbs));
        ext[d] = if ea == eb || eb == 1 {
            ea
        } else if ea == 1 {
            eb
        } else {
            return Err(PyValueError::new_err(format!(
                "tensorblas.matmul: operands could not be broadcast together: batch shapes {abx:?} and {bbx:?}"
            )));
        };
        sa[d] = if ea == 1 { 0 } else { xa };
        sb[d] = if eb == 1 { 0 } else { xb };
    }
    let mut shape = ext.clone();
    if ra.shape.len() > 1 {
        shape.push(m);
    }
    if rb.shape.len() > 1 {
        shape.push(n);
    }
    let t = target::<T>(py, "matmul", out, ty, &shape, &[&ra, &rb], false, false)?;
    let cs = t.raw.strides.clone().expect("target() gave element strides");
    let (crs, ccs) = match (ra.shape.len() > 1, rb.shape.len() > 1) {
        (true, true) => (cs[nb], cs[nb + 1]),
        (true, false) => (cs[nb], 1),
        (false, true) => (1, cs[nb]),
        (false, false) => (1, 1),
    };
    // Fuse batch dimensions whose strides nest for all three operands; the innermost fused one
    // is the call's batch, the others are looped over.
    let mut dims: Vec<(usize, [isize; 3])> = Vec::new();
    for d in 0..nb {
        if ext[d] == 1 {
            continue;
        }
        let s = [sa[d], sb[d], cs[d]];
        if let Some(last) = dims.last_mut() {
            if (0..3).all(|i| last.1[i] == s[i] * ext[d] as isize) {
                last.0 *= ext[d];
                last.1 = s;
                continue;
            }
        }
        dims.push((ext[d], s));
    }
    let (batch, bs) = dims.pop().unwrap_or((1, [0, 0, 0]));
    let mut offsets: Vec<[isize; 3]> = vec![[0; 3]];
    for &(e, s) in &dims {
        offsets = offsets
            .iter()
            .flat_map(|o| (0..e as isize).map(move |i| [o[0] + i * s[0], o[1] + i * s[1], o[2] + i * s[2]]))
            .collect();
    }
    let h = handle()?;
    if m > 0 && n > 0 && batch > 0 && !offsets.is_empty() {
        let ptrs = SendPtr((ra.ptr as *const T, rb.ptr as *const T, t.raw.ptr as *mut T));
        let res = py.detach(move || -> tensorblas::Result<()> {
            let (pa, pb, pc) = ptrs.get();
            for o in &offsets {
                // SAFETY: (module docs) every addressed element is an element of a, b or the
                // target, which stay alive; the target overlaps neither input nor itself.
                unsafe {
                    h.gemm_strided_batched_ex(
                        Op::N,
                        Op::N,
                        m,
                        n,
                        k,
                        T::one(),
                        StridedRef::from_raw_parts(pa.wrapping_offset(o[0]), ars, acs, bs[0]),
                        StridedRef::from_raw_parts(pb.wrapping_offset(o[1]), brs, bcs, bs[1]),
                        T::zero(),
                        StridedMut::from_raw_parts(pc.wrapping_offset(o[2]), crs, ccs, bs[2]),
                        batch,
                    )?;
                }
            }
            Ok(())
        });
        res.map_err(blas_err)?;
    }
    drop((a, b));
    let scalar_result = ra.shape.len() == 1 && rb.shape.len() == 1 && out.is_none();
    let r = t.finish(py)?;
    after_compute(py, "matmul")?;
    if scalar_result {
        return r.get_item(());
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// einsum / explain

/// `"a,b->c"` with numpy's implicit output (letters seen once, sorted) when `->` is missing.
fn full_spec(spec: &str) -> PyResult<(String, String, String)> {
    let s: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    if s.contains("...") {
        return Err(NotSupportedError::new_err(format!(
            "tensorblas.einsum: spec '{spec}': ellipsis ('...') is not supported; name every mode with a letter"
        )));
    }
    let (lhs, rhs) = match s.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (s.clone(), None),
    };
    let ins: Vec<&str> = lhs.split(',').collect();
    if ins.len() != 2 {
        return Err(PyValueError::new_err(format!(
            "tensorblas.einsum: spec '{spec}' has {} operands; tensorblas contracts exactly two",
            ins.len()
        )));
    }
    let out = rhs.unwrap_or_else(|| {
        let mut once: Vec<char> = lhs
            .chars()
            .filter(|&c| c != ',' && lhs.matches(c).count() == 1)
            .collect();
        once.sort_unstable();
        once.into_iter().collect()
    });
    Ok((ins[0].to_string(), ins[1].to_string(), out))
}

/// Extents of the output modes, from the inputs' shapes.
fn out_extents(sa: &str, ra: &[usize], sb: &str, rb: &[usize], sc: &str) -> PyResult<Vec<usize>> {
    for (i, (s, r)) in [(sa, ra), (sb, rb)].iter().enumerate() {
        if s.chars().count() != r.len() {
            return Err(PyValueError::new_err(format!(
                "tensorblas.einsum: operand {i} has {} dimensions but its subscripts '{s}' name {}",
                r.len(),
                s.chars().count()
            )));
        }
    }
    sc.chars()
        .map(|c| {
            sa.chars()
                .position(|x| x == c)
                .map(|p| ra[p])
                .or_else(|| sb.chars().position(|x| x == c).map(|p| rb[p]))
                .ok_or_else(|| {
                    PyValueError::new_err(format!("tensorblas.einsum: output subscript '{c}' appears in no input"))
                })
        })
        .collect()
}

fn shape_of(r: &Raw) -> Shape {
    Shape::strided(&r.shape, &r.ustrides())
}

/// `C = alpha * einsum(spec, a, b) + beta * C` in place on numpy arrays.
#[pyfunction]
#[pyo3(signature = (spec, a, b, out = None, alpha = None, beta = None))]
fn einsum<'py>(
    py: Python<'py>,
    spec: &str,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
    alpha: Option<&Bound<'py, PyAny>>,
    beta: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (ty, a, b) = operands(py, a, b, "einsum")?;
    by_type!(ty, einsum_t(py, ty, spec, a, b, out, alpha, beta))
}

#[allow(clippy::too_many_arguments)]
fn einsum_t<'py, T: El>(
    py: Python<'py>,
    ty: Ty,
    spec: &str,
    a: Bound<'py, PyUntypedArray>,
    b: Bound<'py, PyUntypedArray>,
    out: Option<&Bound<'py, PyAny>>,
    alpha: Option<&Bound<'py, PyAny>>,
    beta: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (sa, sb, sc) = full_spec(spec)?;
    let alpha: T = alpha.map_or(Ok(T::one()), |v| scalar(v, "einsum", "alpha"))?;
    let beta: T = beta.map_or(Ok(T::zero()), |v| scalar(v, "einsum", "beta"))?;
    let (a, ra) = usable(py, a, true)?;
    let (b, rb) = usable(py, b, true)?;
    let ext = out_extents(&sa, &ra.shape, &sb, &rb.shape, &sc)?;
    let keep = !beta.is_zero();
    let t = target::<T>(py, "einsum", out, ty, &ext, &[&ra, &rb], true, keep)?;
    let full = format!("{sa},{sb}->{sc}");
    let shapes = (shape_of(&ra), shape_of(&rb), shape_of(&t.raw));
    let h = handle()?;
    let ptrs = SendPtr((ra.ptr as *const T, rb.ptr as *const T, t.raw.ptr as *mut T));
    let res = py.detach(move || -> tensorblas::Result<()> {
        let (pa, pb, pc) = ptrs.get();
        // SAFETY: (module docs) the shapes are the arrays' own extents and strides, so every
        // addressed element belongs to a live array; the target overlaps neither input nor itself.
        let (ta, tb, mut tc) = unsafe {
            (
                TensorRef::from_raw_parts(pa, shapes.0),
                TensorRef::from_raw_parts(pb, shapes.1),
                TensorMut::from_raw_parts(pc, shapes.2),
            )
        };
        h.einsum(&full, alpha, &ta, &tb, beta, &mut tc)
    });
    res.map_err(blas_err)?;
    drop((a, b));
    let scalar_result = ext.is_empty() && out.is_none();
    let r = t.finish(py)?;
    after_compute(py, "einsum")?;
    if scalar_result {
        return r.get_item(());
    }
    Ok(r)
}

/// A tensor's shape from an array (its strides; arrays einsum would copy count as C-contiguous)
/// or from a tuple of extents (C-contiguous).
fn explain_shape(py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<(Shape, Option<Ty>)> {
    if let Ok(a) = x.cast::<PyUntypedArray>() {
        let r = Raw::of(a);
        let ty = Ty::of(py, a);
        if r.nonneg() {
            return Ok((shape_of(&r), ty));
        }
        return Ok((Shape::row_major(&r.shape), ty));
    }
    let ext: Vec<usize> = x
        .extract()
        .map_err(|_| PyTypeError::new_err("tensorblas.explain: operands must be numpy arrays or tuples of extents"))?;
    Ok((Shape::row_major(&ext), None))
}

/// The plan `einsum` would run, as one line.
#[pyfunction]
#[pyo3(signature = (spec, a, b, out = None, dtype = None))]
fn explain(
    py: Python<'_>,
    spec: &str,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    out: Option<&Bound<'_, PyAny>>,
    dtype: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let (sa, sb, sc) = full_spec(spec)?;
    let (shape_a, ta) = explain_shape(py, a)?;
    let (shape_b, tb) = explain_shape(py, b)?;
    let ty = match dtype {
        Some(d) => ty_of(py, &PyArrayDescr::new(py, d)?, "explain", "dtype")?,
        None => match (ta, tb) {
            (Some(x), Some(y)) => x.join(y),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => Ty::D,
        },
    };
    let shape_c = match out {
        Some(o) => explain_shape(py, o)?.0,
        None => Shape::row_major(&out_extents(&sa, shape_a.extents(), &sb, shape_b.extents(), &sc)?),
    };
    let full = format!("{sa},{sb}->{sc}");
    let h = handle()?;
    let plan = match ty {
        Ty::S => h.einsum_plan::<f32>(&full, &shape_a, &shape_b, &shape_c),
        Ty::D => h.einsum_plan::<f64>(&full, &shape_a, &shape_b, &shape_c),
        Ty::C => h.einsum_plan::<Complex32>(&full, &shape_a, &shape_b, &shape_c),
        Ty::Z => h.einsum_plan::<Complex64>(&full, &shape_a, &shape_b, &shape_c),
    }
    .map_err(blas_err)?;
    Ok(plan.to_string())
}

// ---------------------------------------------------------------------------------------------
// Tucker

type TuckerOut<'py> = (Bound<'py, PyAny>, Vec<Bound<'py, PyAny>>, Vec<f64>, usize, bool);

/// HOOI (the Python `tucker` / `partial_tucker` wrap this): returns core, factors, per-sweep
/// errors, sweeps run, converged.
#[pyfunction]
#[pyo3(signature = (x, ranks, modes, init, factors, n_iter_max, tol, seed, fixed_factors, solver))]
#[allow(clippy::too_many_arguments)]
fn _hooi<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    ranks: Vec<usize>,
    modes: Option<Vec<usize>>,
    init: &str,
    factors: Option<Vec<Bound<'py, PyAny>>>,
    n_iter_max: usize,
    tol: f64,
    seed: u64,
    fixed_factors: Vec<usize>,
    solver: &str,
) -> PyResult<TuckerOut<'py>> {
    let x = as_array(py, x)?;
    let ty = ty_of(py, &x.dtype(), "tucker", "tensor")?;
    let args = (
        ranks,
        modes,
        init,
        factors,
        n_iter_max,
        tol,
        seed,
        fixed_factors,
        solver,
    );
    match ty {
        Ty::S => hooi_t::<f32>(py, x, args),
        Ty::D => hooi_t::<f64>(py, x, args),
        _ => Err(PyTypeError::new_err(format!(
            "tensorblas.tucker: tensor has dtype {}; Tucker runs on float32 and float64",
            ty.name()
        ))),
    }
}

type HooiArgs<'a, 'py> = (
    Vec<usize>,
    Option<Vec<usize>>,
    &'a str,
    Option<Vec<Bound<'py, PyAny>>>,
    usize,
    f64,
    u64,
    Vec<usize>,
    &'a str,
);

fn hooi_t<'py, T: tensorblas_tucker::Real + Element>(
    py: Python<'py>,
    x: Bound<'py, PyUntypedArray>,
    (ranks, modes, init, factors, n_iter_max, tol, seed, fixed_factors, solver): HooiArgs<'_, 'py>,
) -> PyResult<TuckerOut<'py>> {
    let init = match (init, factors) {
        (_, Some(fs)) => {
            let mut ms = Vec::with_capacity(fs.len());
            for (i, f) in fs.iter().enumerate() {
                let f = numpy(py)?
                    .getattr("ascontiguousarray")?
                    .call1((f, dtype::<T>(py)))?
                    .cast_into::<PyArrayDyn<T>>()?;
                if f.ndim() != 2 {
                    return Err(PyValueError::new_err(format!(
                        "tensorblas.tucker: init factor {i} has {} dimensions, a factor is a matrix",
                        f.ndim()
                    )));
                }
                let (rows, cols) = (f.shape()[0], f.shape()[1]);
                let ro = f.readonly();
                let data = ro.as_slice().map_err(|e| PyValueError::new_err(e.to_string()))?;
                ms.push(Matrix::from_row_major(rows, cols, data).map_err(tucker_err)?);
            }
            Init::Factors(ms)
        }
        ("svd", None) => Init::Svd,
        ("st_hosvd" | "st-hosvd", None) => Init::StHosvd,
        ("random", None) => Init::Random { seed },
        (other, None) => {
            return Err(PyValueError::new_err(format!(
                "tensorblas.tucker: init = '{other}'; expected 'svd', 'st_hosvd', 'random' or factors"
            )))
        }
    };
    let solver = match solver {
        "subspace" => Solver::GramSubspace,
        "eigh" => Solver::GramEigh,
        "svd" => Solver::Svd,
        other => {
            return Err(PyValueError::new_err(format!(
                "tensorblas.tucker: solver = '{other}'; expected 'subspace', 'eigh' or 'svd'"
            )))
        }
    };
    let opts = Options {
        n_iter_max,
        tol,
        init,
        solver,
        fixed_factors,
        mode_order: None,
    };
    let (x, r) = usable(py, x, true)?;
    let strides = r.ustrides();
    let len = if r.size() == 0 {
        0
    } else {
        1 + r.shape.iter().zip(&strides).map(|(e, s)| (e - 1) * s).sum::<usize>()
    };
    let shape = r.shape.clone();
    let h = handle()?;
    let ptr = SendPtr(r.ptr as *const T);
    let res = py.detach(move || {
        let p = ptr.get();
        // SAFETY: `len` elements from the origin cover every element of the (non-negative
        // stride) array, which stays alive (`x` is held) and is not written during the call.
        let data: &[T] = if len == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(p, len) }
        };
        let view = TensorView::strided(data, &shape, &strides)?;
        match &modes {
            None => tensorblas_tucker::tucker(&h, &view, &ranks, &opts),
            Some(ms) => tensorblas_tucker::partial_tucker(&h, &view, &ranks, ms, &opts),
        }
    });
    drop(x);
    let res = res.map_err(tucker_err)?;
    after_compute(py, "tucker")?;
    let t = res.tucker;
    let core = numpy::PyArray1::<T>::from_vec(py, t.core.data)
        .reshape(t.core.shape)?
        .into_any();
    let mut fs = Vec::with_capacity(t.factors.len());
    for f in &t.factors {
        let a = numpy::PyArray1::<T>::from_vec(py, f.to_row_major()).reshape(vec![f.rows, f.cols])?;
        fs.push(a.into_any());
    }
    Ok((core, fs, res.rec_errors, res.n_iter, res.converged))
}

// ---------------------------------------------------------------------------------------------
// FFT

type PlanKey = (usize, usize, bool);
static FFT_PLANS: Mutex<Option<HashMap<PlanKey, Arc<FftPlan>>>> = Mutex::new(None);

fn fft_plan(n: usize, devices: usize, double: bool) -> Result<Arc<FftPlan>, tensorblas_fft::FftError> {
    let key = (n, devices, double);
    if let Some(p) = FFT_PLANS
        .lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.get(&key).cloned()))
    {
        return Ok(p);
    }
    let precision = if double { Precision::F64 } else { Precision::F32 };
    let plan = Arc::new(FftPlan::new(&PlanSpec::new(n, devices, precision)?)?);
    if let Ok(mut m) = FFT_PLANS.lock() {
        m.get_or_insert_with(HashMap::new).insert(key, plan.clone());
    }
    Ok(plan)
}

/// The 1-D DFT of each row of a C-contiguous 2-D complex64/complex128 array (the Python `fft` /
/// `ifft` do axes, padding and norms). Returns the result and the algorithm that ran.
#[pyfunction]
#[pyo3(signature = (x, inverse, devices, algorithm))]
fn _fft_rows<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    inverse: bool,
    devices: usize,
    algorithm: &str,
) -> PyResult<(Bound<'py, PyAny>, String)> {
    let x = as_array(py, x)?;
    match Ty::of(py, &x) {
        Some(Ty::C) => fft_rows_t::<f32>(py, x, inverse, devices, algorithm),
        Some(Ty::Z) => fft_rows_t::<f64>(py, x, inverse, devices, algorithm),
        _ => Err(PyTypeError::new_err(
            "tensorblas._fft_rows: x must be complex64 or complex128",
        )),
    }
}

fn fft_rows_t<'py, T: tensorblas_fft::Real + Element>(
    py: Python<'py>,
    x: Bound<'py, PyUntypedArray>,
    inverse: bool,
    devices: usize,
    algorithm: &str,
) -> PyResult<(Bound<'py, PyAny>, String)>
where
    num_complex::Complex<T>: Element,
{
    let x = x.cast_into::<PyArrayDyn<num_complex::Complex<T>>>()?;
    if x.ndim() != 2 || !x.is_c_contiguous() {
        return Err(PyValueError::new_err(
            "tensorblas._fft_rows: x must be a C-contiguous 2-D array",
        ));
    }
    let (rows, n) = (x.shape()[0], x.shape()[1]);
    if devices == 0 || !devices.is_power_of_two() {
        return Err(PyValueError::new_err(format!(
            "tensorblas.fft: devices = {devices} must be a power of two"
        )));
    }
    let plan = match algorithm {
        "rustfft" => None,
        "fmm" => Some(fft_plan(n, devices, T::PRECISION == Precision::F64).map_err(fft_err)?),
        "auto" => fft_plan(n, devices, T::PRECISION == Precision::F64).ok(),
        other => {
            return Err(PyValueError::new_err(format!(
                "tensorblas.fft: algorithm = '{other}'; expected 'auto', 'fmm' or 'rustfft'"
            )))
        }
    };
    let used = if plan.is_some() { "fmm" } else { "rustfft" }.to_string();
    let y = PyArrayDyn::<num_complex::Complex<T>>::zeros(py, vec![rows, n], false);
    {
        let xr = x.readonly();
        let mut yw = y.readwrite();
        let xs = xr.as_slice().map_err(|e| PyValueError::new_err(e.to_string()))?;
        let ys = yw.as_slice_mut().map_err(|e| PyValueError::new_err(e.to_string()))?;
        let base = handle()?;
        let res = py.detach(|| -> Result<(), tensorblas_fft::FftError> {
            if n == 0 {
                return Ok(());
            }
            match &plan {
                Some(p) => {
                    let h = Handle::with_backend(base.backend())?;
                    h.set_num_threads((base.num_threads() / devices).max(1));
                    // One workspace for the call's rows: the first allocates, the others reuse.
                    let mut ws = tensorblas_fft::Workspace::new();
                    for (src, dst) in xs.chunks(n).zip(ys.chunks_mut(n)) {
                        tensorblas_fft::transform_into_with(p, Algorithm::Fmm, src, dst, inverse, &h, &mut ws)?;
                    }
                }
                None => {
                    let f = T::forward_plan(n);
                    let scale = <T as Scalar>::from_c64(Complex64::new(1.0 / n as f64, 0.0));
                    for (src, dst) in xs.chunks(n).zip(ys.chunks_mut(n)) {
                        dst.copy_from_slice(src);
                        if inverse {
                            dst.iter_mut().for_each(|v| *v = v.conj());
                        }
                        f.process(dst);
                        if inverse {
                            dst.iter_mut().for_each(|v| *v = v.conj() * scale);
                        }
                    }
                }
            }
            Ok(())
        });
        res.map_err(fft_err)?;
    }
    after_compute(py, "fft")?;
    Ok((y.into_any(), used))
}

// ---------------------------------------------------------------------------------------------
// Settings

/// Threads every call uses (`n >= 1`; the default is `TBLAS_NUM_THREADS` or the cores).
#[pyfunction]
fn set_num_threads(n: i64) -> PyResult<()> {
    if n < 1 {
        return Err(PyValueError::new_err(format!(
            "tensorblas.set_num_threads: n = {n} must be >= 1"
        )));
    }
    handle()?.set_num_threads(n as usize);
    Ok(())
}

#[pyfunction]
fn get_num_threads() -> PyResult<usize> {
    Ok(handle()?.num_threads())
}

/// Chooses the CPU backend: 'auto', 'native', 'reference', or a vendor BLAS compiled in
/// ('openblas', 'mkl'). The thread count carries over.
#[pyfunction]
fn set_backend(name: &str) -> PyResult<()> {
    let b = CpuBackend::parse(name).map_err(blas_err)?;
    let threads = handle()?.num_threads();
    let h = Handle::with_backend(b).map_err(blas_err)?;
    h.set_num_threads(threads);
    *HANDLE.write().map_err(|_| poisoned())? = Some(Arc::new(h));
    Ok(())
}

#[pyfunction]
fn get_backend() -> PyResult<&'static str> {
    Ok(handle()?.backend().name())
}

/// The CPU backends this build can run.
#[pyfunction]
fn available_backends() -> Vec<&'static str> {
    CpuBackend::all_available().into_iter().map(|b| b.name()).collect()
}

/// The instruction set tensorblas' own kernels use on this CPU.
#[pyfunction]
fn isa() -> PyResult<String> {
    Ok(format!("{:?}", handle()?.isa()))
}

#[pymodule]
fn _tensorblas(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(matmul, m)?)?;
    m.add_function(wrap_pyfunction!(einsum, m)?)?;
    m.add_function(wrap_pyfunction!(explain, m)?)?;
    m.add_function(wrap_pyfunction!(_hooi, m)?)?;
    m.add_function(wrap_pyfunction!(_fft_rows, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(set_backend, m)?)?;
    m.add_function(wrap_pyfunction!(get_backend, m)?)?;
    m.add_function(wrap_pyfunction!(available_backends, m)?)?;
    m.add_function(wrap_pyfunction!(isa, m)?)?;
    m.add("InvalidArgumentError", py.get_type::<InvalidArgumentError>())?;
    m.add("NotSupportedError", py.get_type::<NotSupportedError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
