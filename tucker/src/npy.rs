//! `.npy` (NumPy format 1.0/2.0/3.0) reading and writing for the CLI: float32/float64,
//! little-endian, C or Fortran order, on the shared reader and writer (`tensorblas-npy`).

/// Element type of an array file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// `<f4`.
    F32,
    /// `<f8`.
    F64,
}

/// An array read from a `.npy` file: values as f64 in the file's element order.
#[derive(Clone, Debug)]
pub struct Array {
    /// Element type in the file.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<usize>,
    /// Whether the file stores Fortran (column-major) order.
    pub fortran_order: bool,
    /// f32 data when `dtype == F32` (file order).
    pub f32: Vec<f32>,
    /// f64 data when `dtype == F64` (file order).
    pub f64: Vec<f64>,
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

/// Reads a `.npy` file (the shared reader, `tensorblas-npy`: sizes checked, errors say why).
pub fn read(path: &std::path::Path) -> Result<Array, std::io::Error> {
    let bytes = std::fs::read(path)?;
    let (h, data) = tensorblas_npy::parse(&bytes).map_err(|e| bad(e.to_string()))?;
    let mut a = Array {
        dtype: Dtype::F64,
        shape: h.shape,
        fortran_order: h.fortran_order,
        f32: Vec::new(),
        f64: Vec::new(),
    };
    match (h.dtype, data) {
        (tensorblas_npy::Dtype::F64, tensorblas_npy::Data::F64(v)) => a.f64 = v,
        (tensorblas_npy::Dtype::F32, tensorblas_npy::Data::F32(v)) => {
            a.dtype = Dtype::F32;
            a.f32 = v
        }
        (other, _) => {
            return Err(bad(format!(
                "npy: dtype {} ({}): tensorblas-tucker reads float32 ('<f4') or float64 ('<f8')",
                other.name(),
                other.descr()
            )))
        }
    }
    Ok(a)
}

/// The bytes of a C-order (or, with `fortran_order`, Fortran-order) array file.
pub fn to_bytes(dtype: Dtype, shape: &[usize], fortran_order: bool, data: &[f64]) -> Vec<u8> {
    let dt = match dtype {
        Dtype::F64 => tensorblas_npy::Dtype::F64,
        Dtype::F32 => tensorblas_npy::Dtype::F32,
    };
    tensorblas_npy::to_bytes(dt, shape, fortran_order, data)
}

/// Writes a C-order array (`data` as f64 or f32 per `dtype`; values given as f64).
pub fn write(path: &std::path::Path, dtype: Dtype, shape: &[usize], data: &[f64]) -> Result<(), std::io::Error> {
    write_ordered(path, dtype, shape, false, data)
}

/// Writes an array whose `data` is in Fortran order when `fortran_order`, else C order.
pub fn write_ordered(
    path: &std::path::Path,
    dtype: Dtype,
    shape: &[usize],
    fortran_order: bool,
    data: &[f64],
) -> Result<(), std::io::Error> {
    std::fs::write(path, to_bytes(dtype, shape, fortran_order, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("tucker-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for dt in [Dtype::F64, Dtype::F32] {
            let p = dir.join("a.npy");
            write(&p, dt, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.5, -6.0]).unwrap();
            let a = read(&p).unwrap();
            assert_eq!((a.dtype, a.shape.clone(), a.fortran_order), (dt, vec![2, 3], false));
            let v: Vec<f64> = if dt == Dtype::F64 {
                a.f64
            } else {
                a.f32.iter().map(|&x| x as f64).collect()
            };
            assert_eq!(v, vec![1.0, 2.0, 3.0, 4.0, 5.5, -6.0]);
        }
        std::fs::write(dir.join("bad.npy"), b"not numpy").unwrap();
        assert!(read(&dir.join("bad.npy")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
