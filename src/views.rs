//! Views of operand memory for the safe API: where the memory lives ([`Space`]), general-stride
//! views of batches of matrices ([`StridedRef`], [`StridedMut`]) and tensors ([`Shape`],
//! [`TensorRef`], [`TensorMut`]), on host slices, raw pointers or device buffers.

use crate::device::DeviceBuffer;
use crate::error::{Error, Result};
use crate::scalar::Scalar;
use crate::validate::{Base, Bounds, Operand};
use std::marker::PhantomData;

/// Where the memory behind a view lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Space {
    /// A host slice.
    Host,
    /// A [`DeviceBuffer`].
    Device,
    /// Raw parts: the caller vouches for it (any handle accepts it).
    Raw,
}

impl Space {
    /// Checks that memory in this space suits a handle (`gpu`: a CUDA handle).
    pub(crate) fn check(self, gpu: bool, function: &'static str, position: i32, name: &'static str) -> Result<()> {
        match self.mismatch(gpu) {
            Some(rule) => Err(Error::invalid(function, position, name, rule)),
            None => Ok(()),
        }
    }

    /// The rule memory in this space breaks on a handle (`gpu`: a CUDA handle), if any.
    pub(crate) fn mismatch(self, gpu: bool) -> Option<&'static str> {
        match (self, gpu) {
            (Space::Host, true) => Some("is host memory, but this handle runs on a GPU: pass a view of a DeviceBuffer"),
            (Space::Device, false) => Some("is GPU memory (a DeviceBuffer), but this handle runs on the CPU"),
            _ => None,
        }
    }
}

/// Offsets, relative to `data[offset]`, of the elements of a slice of `len` elements.
fn valid_range(offset: usize, len: usize) -> (i128, i128) {
    (-(offset as i128), len as i128 - 1 - offset as i128)
}

/// A read-only general-stride view of a batch of matrices: element `(i, j)` of entry `p` is at
/// `origin + p*bs + i*rs + j*cs`.
#[derive(Clone, Copy, Debug)]
pub struct StridedRef<'a, T> {
    pub(crate) ptr: *const T,
    pub(crate) bounds: Option<(i128, i128)>,
    pub(crate) space: Space,
    pub(crate) rs: isize,
    pub(crate) cs: isize,
    pub(crate) bs: isize,
    pub(crate) _life: PhantomData<&'a [T]>,
}

impl<'a, T> StridedRef<'a, T> {
    /// The view as the validator's operand (base pointer and strides).
    pub(crate) fn operand(&self) -> Operand<'a, *const T> {
        Operand {
            base: Base::Ptr(self.ptr),
            rs: self.rs as i64,
            cs: self.cs as i64,
            bs: self.bs as i64,
            bounds: self
                .bounds
                .map_or(Bounds::None, |(first, last)| Bounds::Span(first, last)),
        }
    }

    /// A view into `data` whose origin (element `(0, 0)` of entry 0) is `data[offset]`. Strides
    /// may be negative or zero; every element a call addresses is bounds-checked against `data`.
    pub fn new(data: &'a [T], offset: usize, rs: isize, cs: isize, bs: isize) -> Self {
        StridedRef {
            ptr: data.as_ptr().wrapping_add(offset),
            bounds: Some(valid_range(offset, data.len())),
            space: Space::Host,
            rs,
            cs,
            bs,
            _life: PhantomData,
        }
    }

    /// A view from a raw origin pointer, without bounds checks.
    ///
    /// # Safety
    /// Every element a call addresses through this view must be valid for reads for `'a`, and
    /// not be written by anyone during the call.
    pub unsafe fn from_raw_parts(ptr: *const T, rs: isize, cs: isize, bs: isize) -> Self {
        StridedRef {
            ptr,
            bounds: None,
            space: Space::Raw,
            rs,
            cs,
            bs,
            _life: PhantomData,
        }
    }
}

/// A mutable general-stride view of a batch of matrices (the output C); see [`StridedRef`].
#[derive(Debug)]
pub struct StridedMut<'a, T> {
    pub(crate) ptr: *mut T,
    pub(crate) bounds: Option<(i128, i128)>,
    pub(crate) space: Space,
    pub(crate) rs: isize,
    pub(crate) cs: isize,
    pub(crate) bs: isize,
    pub(crate) _life: PhantomData<&'a mut [T]>,
}

impl<'a, T: Scalar> StridedRef<'a, T> {
    /// A view into a GPU buffer (for CUDA handles) whose origin is element `offset`; every
    /// element a call addresses is bounds-checked against the buffer.
    pub fn device(buf: &'a DeviceBuffer<T>, offset: usize, rs: isize, cs: isize, bs: isize) -> Self {
        StridedRef {
            ptr: buf.as_ptr().wrapping_add(offset),
            bounds: Some(valid_range(offset, buf.len())),
            space: Space::Device,
            rs,
            cs,
            bs,
            _life: PhantomData,
        }
    }
}

impl<'a, T: Scalar> StridedMut<'a, T> {
    /// A mutable view into a GPU buffer (for CUDA handles); see [`StridedRef::device`].
    pub fn device(buf: &'a mut DeviceBuffer<T>, offset: usize, rs: isize, cs: isize, bs: isize) -> Self {
        let len = buf.len();
        StridedMut {
            ptr: buf.as_mut_ptr().wrapping_add(offset),
            bounds: Some(valid_range(offset, len)),
            space: Space::Device,
            rs,
            cs,
            bs,
            _life: PhantomData,
        }
    }
}

impl<'a, T> StridedMut<'a, T> {
    /// The view as the validator's operand (base pointer and strides).
    pub(crate) fn operand(&self) -> Operand<'a, *mut T> {
        Operand {
            base: Base::Ptr(self.ptr),
            rs: self.rs as i64,
            cs: self.cs as i64,
            bs: self.bs as i64,
            bounds: self
                .bounds
                .map_or(Bounds::None, |(first, last)| Bounds::Span(first, last)),
        }
    }

    /// A mutable view into `data` whose origin is `data[offset]`; see [`StridedRef::new`].
    pub fn new(data: &'a mut [T], offset: usize, rs: isize, cs: isize, bs: isize) -> Self {
        let len = data.len();
        StridedMut {
            ptr: data.as_mut_ptr().wrapping_add(offset),
            bounds: Some(valid_range(offset, len)),
            space: Space::Host,
            rs,
            cs,
            bs,
            _life: PhantomData,
        }
    }

    /// A mutable view from a raw origin pointer, without bounds checks.
    ///
    /// # Safety
    /// Every element a call addresses through this view must be valid for reads and writes for
    /// `'a` and not be accessed by anyone else during the call.
    pub unsafe fn from_raw_parts(ptr: *mut T, rs: isize, cs: isize, bs: isize) -> Self {
        StridedMut {
            ptr,
            bounds: None,
            space: Space::Raw,
            rs,
            cs,
            bs,
            _life: PhantomData,
        }
    }
}

/// Extents and strides (in elements) of a tensor; strides default to packed column-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub(crate) extents: Vec<usize>,
    pub(crate) strides: Option<Vec<usize>>,
}

impl Shape {
    /// Packed column-major (first mode fastest), like BLAS and cuTENSOR.
    pub fn col_major(extents: &[usize]) -> Shape {
        Shape {
            extents: extents.to_vec(),
            strides: None,
        }
    }

    /// Packed row-major (last mode fastest), like numpy's default.
    pub fn row_major(extents: &[usize]) -> Shape {
        let mut strides = vec![0usize; extents.len()];
        let mut s = 1usize;
        for i in (0..extents.len()).rev() {
            strides[i] = s;
            s = s.saturating_mul(extents[i].max(1));
        }
        Shape {
            extents: extents.to_vec(),
            strides: Some(strides),
        }
    }

    /// Explicit strides in elements (0 broadcasts an input along that mode). The two slices
    /// must have one entry per mode (checked when the shape is used).
    pub fn strided(extents: &[usize], strides: &[usize]) -> Shape {
        Shape {
            extents: extents.to_vec(),
            strides: Some(strides.to_vec()),
        }
    }

    /// The extents.
    pub fn extents(&self) -> &[usize] {
        &self.extents
    }

    /// The explicit strides (`None` = packed column-major).
    pub fn strides(&self) -> Option<&[usize]> {
        self.strides.as_deref()
    }
}

/// A read-only tensor: a slice (or raw origin) and its [`Shape`].
#[derive(Clone, Debug)]
pub struct TensorRef<'a, T> {
    pub(crate) ptr: *const T,
    /// Offsets from `ptr` that are inside the slice (None: raw parts, unchecked).
    pub(crate) len: Option<usize>,
    pub(crate) space: Space,
    pub(crate) shape: Shape,
    pub(crate) _life: std::marker::PhantomData<&'a [T]>,
}

impl<'a, T> TensorRef<'a, T> {
    /// A tensor whose element `(0, ..., 0)` is `data[0]`; every addressed element is
    /// bounds-checked against `data` when the tensor is used.
    pub fn new(data: &'a [T], shape: Shape) -> Self {
        TensorRef {
            ptr: data.as_ptr(),
            len: Some(data.len()),
            space: Space::Host,
            shape,
            _life: std::marker::PhantomData,
        }
    }

    /// A tensor from a raw origin pointer, without bounds checks.
    ///
    /// # Safety
    /// Every element the shape addresses must be valid for reads for `'a` and not be written
    /// by anyone during a call that uses this tensor.
    pub unsafe fn from_raw_parts(ptr: *const T, shape: Shape) -> Self {
        TensorRef {
            ptr,
            len: None,
            space: Space::Raw,
            shape,
            _life: std::marker::PhantomData,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
}

impl<'a, T: Scalar> TensorRef<'a, T> {
    /// A tensor in a GPU buffer (for CUDA handles) whose element `(0, ..., 0)` is element 0 of
    /// `buf`; every addressed element is bounds-checked against the buffer.
    pub fn device(buf: &'a DeviceBuffer<T>, shape: Shape) -> Self {
        TensorRef {
            ptr: buf.as_ptr(),
            len: Some(buf.len()),
            space: Space::Device,
            shape,
            _life: std::marker::PhantomData,
        }
    }
}

impl<'a, T: Scalar> TensorMut<'a, T> {
    /// A mutable tensor in a GPU buffer (for CUDA handles); see [`TensorRef::device`].
    pub fn device(buf: &'a mut DeviceBuffer<T>, shape: Shape) -> Self {
        let len = buf.len();
        TensorMut {
            ptr: buf.as_mut_ptr(),
            len: Some(len),
            space: Space::Device,
            shape,
            _life: std::marker::PhantomData,
        }
    }
}

/// A mutable tensor (the output C); see [`TensorRef`].
#[derive(Debug)]
pub struct TensorMut<'a, T> {
    pub(crate) ptr: *mut T,
    pub(crate) len: Option<usize>,
    pub(crate) space: Space,
    pub(crate) shape: Shape,
    pub(crate) _life: std::marker::PhantomData<&'a mut [T]>,
}

impl<'a, T> TensorMut<'a, T> {
    /// A mutable tensor whose element `(0, ..., 0)` is `data[0]`; see [`TensorRef::new`].
    pub fn new(data: &'a mut [T], shape: Shape) -> Self {
        TensorMut {
            ptr: data.as_mut_ptr(),
            len: Some(data.len()),
            space: Space::Host,
            shape,
            _life: std::marker::PhantomData,
        }
    }

    /// A mutable tensor from a raw origin pointer, without bounds checks.
    ///
    /// # Safety
    /// Every element the shape addresses must be valid for reads and writes for `'a` and not be
    /// accessed by anyone else during a call that uses this tensor.
    pub unsafe fn from_raw_parts(ptr: *mut T, shape: Shape) -> Self {
        TensorMut {
            ptr,
            len: None,
            space: Space::Raw,
            shape,
            _life: std::marker::PhantomData,
        }
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
}
