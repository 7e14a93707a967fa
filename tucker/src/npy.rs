//! Minimal `.npy` (NumPy format 1.0/2.0/3.0) reading and writing for the CLI: float32/float64,
//! little-endian, C or Fortran order.

use std::io::{Read, Write};

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

fn header_value<'h>(header: &'h str, key: &str) -> Result<&'h str, std::io::Error> {
    let k = format!("'{key}'");
    let at = header
        .find(&k)
        .ok_or_else(|| bad(format!("npy header lacks {k}: {header}")))?;
    let rest = header[at + k.len()..].trim_start();
    let rest = rest.strip_prefix(':').ok_or_else(|| bad("npy header: expected ':'"))?;
    Ok(rest.trim_start())
}

/// Reads a `.npy` file.
pub fn read(path: &std::path::Path) -> Result<Array, std::io::Error> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad(format!(
            "{} is not a .npy file (no \\x93NUMPY magic)",
            path.display()
        )));
    }
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated .npy header"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let end = start + hlen;
    if bytes.len() < end {
        return Err(bad("truncated .npy header"));
    }
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| bad("npy header is not text"))?;
    let descr = header_value(header, "descr")?;
    let dtype = if descr.starts_with("'<f8'") || descr.starts_with("'=f8'") {
        Dtype::F64
    } else if descr.starts_with("'<f4'") || descr.starts_with("'=f4'") {
        Dtype::F32
    } else {
        return Err(bad(format!(
            "unsupported dtype {}: tensorblas-tucker reads little-endian float32 ('<f4') or float64 ('<f8')",
            descr.split(',').next().unwrap_or(descr)
        )));
    };
    let fortran_order = header_value(header, "fortran_order")?.starts_with("True");
    let sh = header_value(header, "shape")?;
    let sh = sh
        .strip_prefix('(')
        .ok_or_else(|| bad("npy header: shape is not a tuple"))?;
    let sh = &sh[..sh.find(')').ok_or_else(|| bad("npy header: unterminated shape"))?];
    let shape: Vec<usize> = sh
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad(format!("npy header: bad extent '{s}'")))
        })
        .collect::<Result<_, _>>()?;
    let count: usize = shape.iter().product();
    let size = if dtype == Dtype::F64 { 8 } else { 4 };
    let body = &bytes[end..];
    if body.len() < count * size {
        return Err(bad(format!(
            "{} holds {} data bytes, the header promises {}",
            path.display(),
            body.len(),
            count * size
        )));
    }
    let mut a = Array {
        dtype,
        shape,
        fortran_order,
        f32: Vec::new(),
        f64: Vec::new(),
    };
    match dtype {
        Dtype::F64 => {
            a.f64 = body[..count * 8]
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect()
        }
        Dtype::F32 => {
            a.f32 = body[..count * 4]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect()
        }
    }
    Ok(a)
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
    let order = if fortran_order { "True" } else { "False" };
    let descr = if dtype == Dtype::F64 { "<f8" } else { "<f4" };
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_s = if shape.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape_s}, }}");
    // Pad so that the data starts on a 64-byte boundary; the header ends with '\n'.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 8);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in data {
        if dtype == Dtype::F64 {
            out.extend_from_slice(&v.to_le_bytes());
        } else {
            out.extend_from_slice(&(v as f32).to_le_bytes());
        }
    }
    std::fs::File::create(path)?.write_all(&out)
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
