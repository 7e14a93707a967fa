//! The sealed element trait: the four BLAS types, one `impl` list.

use num_complex::{Complex32, Complex64};
use std::fmt::Debug;
use std::ops::{Add, Mul, Sub};

/// Element type of a GEMM or contraction, as the C API numbers it (`TBLAS_R_32F`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum DataType {
    /// `f32` (`float`, BLAS prefix `s`).
    R32F = 0,
    /// `f64` (`double`, BLAS prefix `d`).
    R64F = 1,
    /// [`Complex32`] (`tblas_complex_float`, BLAS prefix `c`).
    C32F = 2,
    /// [`Complex64`] (`tblas_complex_double`, BLAS prefix `z`).
    C64F = 3,
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for num_complex::Complex32 {}
    impl Sealed for num_complex::Complex64 {}
}

/// The element types tensorblas computes with: `f32`, `f64`, [`Complex32`], [`Complex64`].
///
/// Sealed: the library's algorithms are written once over this trait, and backends rely on
/// [`Scalar::DATATYPE`] naming the concrete type exactly.
pub trait Scalar:
    sealed::Sealed
    + Copy
    + Send
    + Sync
    + Debug
    + PartialEq
    + Default
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
{
    /// Which of the four types this is.
    const DATATYPE: DataType;
    /// Whether the type is complex (conjugation is meaningful).
    const IS_COMPLEX: bool;
    /// BLAS prefix: `'s'`, `'d'`, `'c'` or `'z'`.
    const PREFIX: char;
    /// Names of the GEMM family for this type, as errors report them, in the order of
    /// `validate::Family`: the C functions gemm, gemm_batched, gemm_strided_batched,
    /// gemm_strided_batched_ex, then the Rust method `Handle::syrk_strided_batched_ex`.
    const GEMM_NAMES: [&'static str; 5];
    /// Relative machine epsilon of the underlying real type.
    const EPSILON: f64;

    /// Additive identity.
    fn zero() -> Self;
    /// Multiplicative identity.
    fn one() -> Self;
    /// Exactly zero (both parts for complex; `-0.0` counts as zero).
    fn is_zero(self) -> bool;
    /// Complex conjugate (identity for real types).
    fn conj(self) -> Self;
    /// Widen to `Complex64` (exact for every type).
    fn to_c64(self) -> Complex64;
    /// Round from `Complex64` (the imaginary part is dropped for real types).
    fn from_c64(v: Complex64) -> Self;
    /// `|re| + |im|`, the magnitude BLAS test gauges use.
    fn abs1(self) -> f64 {
        let v = self.to_c64();
        v.re.abs() + v.im.abs()
    }
}

macro_rules! real_scalar {
    ($t:ty, $dt:ident, $p:literal, $names:expr) => {
        impl Scalar for $t {
            const DATATYPE: DataType = DataType::$dt;
            const IS_COMPLEX: bool = false;
            const PREFIX: char = $p;
            const GEMM_NAMES: [&'static str; 5] = $names;
            const EPSILON: f64 = <$t>::EPSILON as f64;
            fn zero() -> Self {
                0.0
            }
            fn one() -> Self {
                1.0
            }
            fn is_zero(self) -> bool {
                self == 0.0
            }
            fn conj(self) -> Self {
                self
            }
            fn to_c64(self) -> Complex64 {
                Complex64::new(self as f64, 0.0)
            }
            fn from_c64(v: Complex64) -> Self {
                v.re as $t
            }
        }
    };
}

macro_rules! complex_scalar {
    ($t:ty, $r:ty, $dt:ident, $p:literal, $names:expr) => {
        impl Scalar for $t {
            const DATATYPE: DataType = DataType::$dt;
            const IS_COMPLEX: bool = true;
            const PREFIX: char = $p;
            const GEMM_NAMES: [&'static str; 5] = $names;
            const EPSILON: f64 = <$r>::EPSILON as f64;
            fn zero() -> Self {
                <$t>::new(0.0, 0.0)
            }
            fn one() -> Self {
                <$t>::new(1.0, 0.0)
            }
            fn is_zero(self) -> bool {
                self.re == 0.0 && self.im == 0.0
            }
            fn conj(self) -> Self {
                <$t>::new(self.re, -self.im)
            }
            fn to_c64(self) -> Complex64 {
                Complex64::new(self.re as f64, self.im as f64)
            }
            fn from_c64(v: Complex64) -> Self {
                <$t>::new(v.re as $r, v.im as $r)
            }
        }
    };
}

real_scalar!(
    f32,
    R32F,
    's',
    [
        "tblas_sgemm",
        "tblas_sgemm_batched",
        "tblas_sgemm_strided_batched",
        "tblas_sgemm_strided_batched_ex",
        "Handle::syrk_strided_batched_ex::<f32>"
    ]
);
real_scalar!(
    f64,
    R64F,
    'd',
    [
        "tblas_dgemm",
        "tblas_dgemm_batched",
        "tblas_dgemm_strided_batched",
        "tblas_dgemm_strided_batched_ex",
        "Handle::syrk_strided_batched_ex::<f64>"
    ]
);
complex_scalar!(
    Complex32,
    f32,
    C32F,
    'c',
    [
        "tblas_cgemm",
        "tblas_cgemm_batched",
        "tblas_cgemm_strided_batched",
        "tblas_cgemm_strided_batched_ex",
        "Handle::syrk_strided_batched_ex::<Complex32>"
    ]
);
complex_scalar!(
    Complex64,
    f64,
    C64F,
    'z',
    [
        "tblas_zgemm",
        "tblas_zgemm_batched",
        "tblas_zgemm_strided_batched",
        "tblas_zgemm_strided_batched_ex",
        "Handle::syrk_strided_batched_ex::<Complex64>"
    ]
);

/// Chooses one of four expressions by the scalar type `$t` (`s`, `d`, `c`, `z` order), at
/// compile time: an `if const` chain, not a `match`, so that each instance of a generic function
/// compiles only its own branch. With a `match` on `T::DATATYPE` every arm is instantiated in
/// every instance (rustc drops untaken branches only when the condition is a constant), and
/// where the arms call kernels through a closure whose type differs per `T`, each of the four
/// types compiled all four kernel sets: 4x the code and the build time of the crate.
macro_rules! per_type {
    ($t:ty, $s:expr, $d:expr, $c:expr, $z:expr $(,)?) => {
        if const { matches!(<$t as $crate::scalar::Scalar>::DATATYPE, $crate::scalar::DataType::R32F) } {
            $s
        } else if const { matches!(<$t as $crate::scalar::Scalar>::DATATYPE, $crate::scalar::DataType::R64F) } {
            $d
        } else if const { matches!(<$t as $crate::scalar::Scalar>::DATATYPE, $crate::scalar::DataType::C32F) } {
            $c
        } else {
            $z
        }
    };
}
pub(crate) use per_type;
