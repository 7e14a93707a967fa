//! `.npy` input and output of the CLI: 1-D complex64 / complex128 (or float32 / float64,
//! promoted to complex), little-endian, NumPy format 1.0–3.0.

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

fn bad(msg: String) -> String {
    format!("npy: {msg}")
}

/// Parses a `.npy` file's bytes.
pub fn parse(bytes: &[u8]) -> Result<Signal, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file (no \\x93NUMPY magic)".into()));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported format version {v}"))),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + hlen)
            .ok_or_else(|| bad("truncated header".into()))?,
    )
    .map_err(|_| bad("header is not text".into()))?;
    let field = |key: &str| -> Result<String, String> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or_else(|| bad(format!("header lacks '{key}': {header}")))?;
        let rest = header[at + key.len() + 2..]
            .trim_start()
            .trim_start_matches(':')
            .trim_start();
        let end = if rest.starts_with('(') {
            rest.find(')').map(|e| e + 1)
        } else {
            rest.find([',', '}'])
        }
        .ok_or_else(|| bad(format!("cannot read '{key}' in {header}")))?;
        Ok(rest[..end].trim().to_string())
    };
    let descr = field("descr")?;
    let (width, complex) = match descr.trim_matches(|c| c == '\'' || c == '"') {
        "<c8" | "|c8" => (4, true),
        "<c16" | "|c16" => (8, true),
        "<f4" | "|f4" => (4, false),
        "<f8" | "|f8" => (8, false),
        other => {
            return Err(bad(format!(
                "dtype {other} is not complex64, complex128, float32 or float64 (little-endian)"
            )))
        }
    };
    if field("fortran_order")? == "True" {
        // Irrelevant for 1-D data, accepted.
    }
    let shape = field("shape")?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<usize>().map_err(|_| bad(format!("bad shape {shape}"))))
        .collect::<Result<_, _>>()?;
    if dims.len() != 1 {
        return Err(bad(format!("expected a 1-D array, got shape {shape}")));
    }
    let n = dims[0];
    let per = width * if complex { 2 } else { 1 };
    let body = &bytes[start + hlen..];
    if body.len() < n * per {
        return Err(bad(format!(
            "file holds {} bytes of data, shape {shape} needs {}",
            body.len(),
            n * per
        )));
    }
    let val = |i: usize| -> f64 {
        let b = &body[i * width..(i + 1) * width];
        if width == 4 {
            f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64
        } else {
            f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        }
    };
    let data = (0..n)
        .map(|i| {
            if complex {
                Complex64::new(val(2 * i), val(2 * i + 1))
            } else {
                Complex64::new(val(i), 0.0)
            }
        })
        .collect();
    Ok(Signal {
        single: width == 4,
        real: !complex,
        data,
    })
}

/// Serialises a 1-D complex array (`single`: complex64, else complex128).
pub fn to_bytes(data: &[Complex64], single: bool) -> Vec<u8> {
    let descr = if single { "<c8" } else { "<c16" };
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({},), }}",
        data.len()
    );
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 16);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        if single {
            out.extend_from_slice(&(v.re as f32).to_le_bytes());
            out.extend_from_slice(&(v.im as f32).to_le_bytes());
        } else {
            out.extend_from_slice(&v.re.to_le_bytes());
            out.extend_from_slice(&v.im.to_le_bytes());
        }
    }
    out
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
