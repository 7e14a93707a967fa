//! `.npy` input and output of the CLI: 1-D complex64 / complex128 (or float32 / float64,
//! promoted to complex), little-endian, NumPy format 1.0–3.0, on the shared reader and writer
//! (`tensorblas-npy`).

use num_complex::Complex64;

/// What a 1-D `.npy` held.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// `c8`/`f4` files are single precision, `c16`/`f8` double.
    pub single: bool,
    /// Whether the file was real (promoted to complex with zero imaginary parts).
    pub real: bool,
    /// The values, widened to f64.
    pub data: Vec<Complex64>,
}

/// Parses a `.npy` file's bytes (the shared reader, `tensorblas-npy`: sizes checked, errors
/// say why) into a 1-D signal.
pub fn parse(bytes: &[u8]) -> Result<Signal, String> {
    let (h, data) = tensorblas_npy::parse(bytes).map_err(|e| e.to_string())?;
    if h.shape.len() != 1 {
        return Err(format!("npy: expected a 1-D array, got shape {:?}", h.shape));
    }
    let v = data.to_f64();
    let data = if h.dtype.is_complex() {
        v.chunks_exact(2).map(|c| Complex64::new(c[0], c[1])).collect()
    } else {
        v.into_iter().map(|x| Complex64::new(x, 0.0)).collect()
    };
    Ok(Signal {
        single: h.dtype.is_single(),
        real: !h.dtype.is_complex(),
        data,
    })
}

/// Serialises a 1-D complex array (`single`: complex64, else complex128).
pub fn to_bytes(data: &[Complex64], single: bool) -> Vec<u8> {
    let parts: Vec<f64> = data.iter().flat_map(|v| [v.re, v.im]).collect();
    let dtype = if single {
        tensorblas_npy::Dtype::C64
    } else {
        tensorblas_npy::Dtype::C128
    };
    tensorblas_npy::to_bytes(dtype, &[data.len()], false, &parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_real_promotion() {
        let d: Vec<Complex64> = (0..5).map(|i| Complex64::new(i as f64 * 0.5, -(i as f64))).collect();
        for single in [false, true] {
            let s = parse(&to_bytes(&d, single)).unwrap();
            assert_eq!((s.single, s.real), (single, false));
            assert_eq!(s.data, d);
        }
        // A float64 file written by hand: promoted with zero imaginary parts.
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        let mut h = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }".to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        f.extend_from_slice(&(h.len() as u16).to_le_bytes());
        f.extend_from_slice(h.as_bytes());
        for v in [1.0f64, 2.0, -3.5] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        let s = parse(&f).unwrap();
        assert!(s.real && !s.single);
        assert_eq!(s.data[2], Complex64::new(-3.5, 0.0));
        // Errors name the problem.
        assert!(parse(b"hello").unwrap_err().contains("magic"));
        let two_d = String::from_utf8_lossy(&to_bytes(&d, false)).replace("(5,)", "(5,1)");
        assert!(parse(two_d.as_bytes()).is_err());
    }
}
