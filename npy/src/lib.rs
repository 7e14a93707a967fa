//! The `.npy` reader and writer shared by the tensorblas CLIs (`tensorblas-tucker`,
//! `tensorblas-fft`), and [`Outputs`], which makes a CLI's output files appear all together or
//! not at all.
//!
//! Reading: NumPy format 1.0, 2.0 and 3.0; little-endian (or native `=` / byte-order-free `|`)
//! float32, float64, complex64 and complex128; C or Fortran order; any number of dimensions.
//! Every size computed from the header is checked: a header that promises more elements or bytes
//! than the file holds, or than `usize` can count, is an [`Error`] that says so — never a panic,
//! an overflow or an allocation of the promised size. `fuzz/` runs this parser under libFuzzer.
//!
//! ```
//! use tensorblas_npy::{parse, to_bytes, Data, Dtype};
//! let bytes = to_bytes(Dtype::F64, &[2, 3], false, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
//! let (h, data) = parse(&bytes)?;
//! assert_eq!((h.dtype, h.shape.as_slice(), h.fortran_order), (Dtype::F64, &[2usize, 3][..], false));
//! assert_eq!(data, Data::F64(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
//! // A header promising more than the file holds is refused with a message, not a panic.
//! let mut short = to_bytes(Dtype::C128, &[4], false, &[0.0; 8]);
//! short.truncate(short.len() - 16);
//! assert!(parse(&short).unwrap_err().to_string().contains("needs 64"));
//! # Ok::<(), tensorblas_npy::Error>(())
//! ```

use std::path::{Path, PathBuf};

/// A `.npy` problem, as a sentence (`npy: ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "npy: {}", self.0)
    }
}

impl std::error::Error for Error {}

fn bad<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error(msg.into()))
}

/// Element type of an array file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// `<f4`.
    F32,
    /// `<f8`.
    F64,
    /// `<c8` (two float32).
    C64,
    /// `<c16` (two float64).
    C128,
}

impl Dtype {
    /// The `descr` NumPy writes for it.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::C64 => "<c8",
            Dtype::C128 => "<c16",
        }
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 | Dtype::C64 => 8,
            Dtype::C128 => 16,
        }
    }
    /// Whether elements are complex (stored as interleaved real and imaginary parts).
    pub fn is_complex(self) -> bool {
        matches!(self, Dtype::C64 | Dtype::C128)
    }
    /// Whether the parts are 32-bit.
    pub fn is_single(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::C64)
    }
    /// NumPy's name (`float32`, ..., `complex128`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::C64 => "complex64",
            Dtype::C128 => "complex128",
        }
    }
}

/// What a `.npy` header says, with its sizes checked against the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Element type.
    pub dtype: Dtype,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// Extents (empty for a 0-d array of one element).
    pub shape: Vec<usize>,
    /// Number of elements (the product of `shape`, checked).
    pub count: usize,
    /// Offset of the data in the file.
    pub data_start: usize,
}

/// The data of an array, in file order; complex values as interleaved (re, im) pairs, so a
/// complex array of `count` elements holds `2 * count` values.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// float32 or complex64 parts.
    F32(Vec<f32>),
    /// float64 or complex128 parts.
    F64(Vec<f64>),
}

impl Data {
    /// The values widened to f64.
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F64(v) => v.clone(),
        }
    }
}

/// The value of `key` in a header dictionary: the text after `'key':` up to the matching end
/// (a parenthesised tuple, or up to the next `,` / `}`).
fn field<'h>(header: &'h str, key: &str) -> Result<&'h str, Error> {
    let k = format!("'{key}'");
    let Some(at) = header.find(&k) else {
        return bad(format!("header lacks {k}: {header}"));
    };
    let rest = header[at + k.len()..].trim_start();
    let Some(rest) = rest.strip_prefix(':') else {
        return bad(format!("header: expected ':' after {k}"));
    };
    let rest = rest.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')').map(|e| e + 1)
    } else {
        rest.find([',', '}'])
    };
    match end {
        Some(e) => Ok(rest[..e].trim()),
        None => bad(format!("header: cannot read {k} in {header}")),
    }
}

/// Parses and checks a header (the first bytes of a file; `bytes.len()` is the file's length).
pub fn parse_header(bytes: &[u8]) -> Result<Header, Error> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return bad("not a .npy file (no \\x93NUMPY magic)");
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        2 | 3 => return bad("truncated header"),
        v => return bad(format!("unsupported format version {v}")),
    };
    let Some(header) = start.checked_add(hlen).and_then(|end| bytes.get(start..end)) else {
        return bad(format!("truncated header ({hlen} bytes promised)"));
    };
    let Ok(header) = std::str::from_utf8(header) else {
        return bad("header is not text");
    };
    let descr = field(header, "descr")?;
    let dtype = match descr.trim_matches(|c| c == '\'' || c == '"') {
        "<f4" | "=f4" | "|f4" => Dtype::F32,
        "<f8" | "=f8" | "|f8" => Dtype::F64,
        "<c8" | "=c8" | "|c8" => Dtype::C64,
        "<c16" | "=c16" | "|c16" => Dtype::C128,
        other => {
            return bad(format!(
                "dtype {other} is not little-endian float32 ('<f4'), float64 ('<f8'), complex64 ('<c8') or \
                 complex128 ('<c16')"
            ))
        }
    };
    let fortran_order = match field(header, "fortran_order")? {
        "True" => true,
        "False" => false,
        other => return bad(format!("fortran_order is {other}, not True or False")),
    };
    let shape_s = field(header, "shape")?;
    let Some(inner) = shape_s.strip_prefix('(').and_then(|s| s.strip_suffix(')')) else {
        return bad(format!("shape {shape_s} is not a tuple"));
    };
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .or_else(|_| bad(format!("shape {shape_s}: '{s}' is not an extent")))
        })
        .collect::<Result<_, _>>()?;
    let Some(count) = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) else {
        return bad(format!(
            "shape {shape_s} holds more elements than this machine can count"
        ));
    };
    let data_start = start + hlen;
    let have = bytes.len() - data_start;
    match count.checked_mul(dtype.size()) {
        None => bad(format!(
            "shape {shape_s} of {} needs more bytes than this machine can address",
            dtype.name()
        )),
        Some(need) if need > have => bad(format!(
            "the file holds {have} bytes of data, shape {shape_s} of {} needs {need}",
            dtype.name()
        )),
        Some(_) => Ok(Header {
            dtype,
            fortran_order,
            shape,
            count,
            data_start,
        }),
    }
}

/// Parses a whole `.npy` file's bytes.
pub fn parse(bytes: &[u8]) -> Result<(Header, Data), Error> {
    let h = parse_header(bytes)?;
    let parts = if h.dtype.is_complex() { 2 * h.count } else { h.count };
    let body = &bytes[h.data_start..h.data_start + h.count * h.dtype.size()];
    let data = if h.dtype.is_single() {
        Data::F32(
            body.chunks_exact(4)
                .take(parts)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    } else {
        Data::F64(
            body.chunks_exact(8)
                .take(parts)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        )
    };
    Ok((h, data))
}

/// Reads and parses a file; errors name it.
pub fn read(path: &Path) -> Result<(Header, Data), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Serialises an array: `data` in file order (Fortran order when `fortran_order`), complex
/// values as interleaved parts (`2 * count` values), stored as `dtype` (f32 parts rounded).
///
/// # Panics
/// If `data` does not hold exactly the values `shape` and `dtype` call for (a caller's bug).
pub fn to_bytes(dtype: Dtype, shape: &[usize], fortran_order: bool, data: &[f64]) -> Vec<u8> {
    let count: usize = shape.iter().product();
    let parts = if dtype.is_complex() { 2 * count } else { count };
    assert_eq!(
        data.len(),
        parts,
        "npy::to_bytes: {} values for shape {shape:?} of {}",
        data.len(),
        dtype.name()
    );
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_s = if shape.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let order = if fortran_order { "True" } else { "False" };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': {order}, 'shape': {shape_s}, }}",
        dtype.descr()
    );
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + count * dtype.size());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in data {
        if dtype.is_single() {
            out.extend_from_slice(&(v as f32).to_le_bytes());
        } else {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// A CLI's output files, written all together or not at all: [`Outputs::check`] before the
/// computation (each file's folder exists and takes a file), [`Outputs::write`] to a temporary
/// name beside each file, [`Outputs::commit`] renames them all once every write succeeded.
/// Dropped without a commit (an error, a panic), it removes what it wrote: no partial result is
/// ever left under a final name.
#[derive(Debug, Default)]
pub struct Outputs {
    staged: Vec<(PathBuf, PathBuf)>,
}

impl Outputs {
    /// An empty set.
    pub fn new() -> Outputs {
        Outputs::default()
    }

    fn temp_of(path: &Path) -> PathBuf {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
    }

    /// Checks, before any work, that each of `paths` can be written: its folder exists and a file
    /// can be created there (the probe is removed again). The error names the path.
    pub fn check<'p>(paths: impl IntoIterator<Item = &'p Path>) -> Result<(), String> {
        for p in paths {
            if p.file_name().is_none() || p.is_dir() {
                return Err(format!("{}: is a folder, not a file name", p.display()));
            }
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            if !dir.is_dir() {
                return Err(format!("{}: the folder {} does not exist", p.display(), dir.display()));
            }
            let probe = Self::temp_of(p);
            std::fs::write(&probe, b"").map_err(|e| format!("{}: cannot write there: {e}", p.display()))?;
            let _ = std::fs::remove_file(&probe);
        }
        Ok(())
    }

    /// Writes `bytes` to a temporary name beside `path`.
    pub fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        let tmp = Self::temp_of(path);
        std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        self.staged.push((tmp, path.to_path_buf()));
        Ok(())
    }

    /// Renames every staged file to its final name.
    pub fn commit(mut self) -> Result<(), String> {
        let staged = std::mem::take(&mut self.staged);
        for (i, (tmp, path)) in staged.iter().enumerate() {
            if let Err(e) = std::fs::rename(tmp, path) {
                for (t, _) in &staged[i..] {
                    let _ = std::fs::remove_file(t);
                }
                return Err(format!("cannot write {}: {e}", path.display()));
            }
        }
        Ok(())
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        for (tmp, _) in &self.staged {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// A format-1.0 file with the header dictionary `dict` exactly as given (no padding, no checks)
/// followed by `data`: for tests that need a crafted or malformed header.
#[doc(hidden)]
pub fn with_raw_header(dict: &str, data: &[u8]) -> Vec<u8> {
    let header = format!("{dict}\n");
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    b
}

/// The fuzz oracle (`fuzz/fuzz_targets/npy.rs`; `tests` replays `fuzz/corpus/npy`): on any
/// bytes `parse` returns (never panics); what it accepts is self-consistent — `count` is the
/// product of `shape`, the data holds `count` elements, the header's promise fits the file —
/// and survives a write and a second read unchanged (values bit for bit, NaNs as NaNs).
#[doc(hidden)]
pub fn fuzz_check(bytes: &[u8]) {
    let Ok((h, data)) = parse(bytes) else {
        return;
    };
    assert_eq!(Some(h.count), h.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)));
    assert!(h.data_start + h.count * h.dtype.size() <= bytes.len());
    let parts = if h.dtype.is_complex() { 2 * h.count } else { h.count };
    let v = data.to_f64();
    assert_eq!(v.len(), parts);
    let (h2, data2) = parse(&to_bytes(h.dtype, &h.shape, h.fortran_order, &v)).expect("re-read");
    assert_eq!(
        (h2.dtype, &h2.shape, h2.fortran_order, h2.count),
        (h.dtype, &h.shape, h.fortran_order, h.count)
    );
    for (a, b) in v.iter().zip(data2.to_f64()) {
        assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{a} vs {b}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_corpus_replays() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/npy");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("fuzz/corpus/npy") {
            fuzz_check(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n >= 4, "{n} corpus files");
    }

    /// A file with a hand-written header for `shape` and one element's worth of data (0.5).
    fn with_shape(dtype: Dtype, shape: &str) -> Vec<u8> {
        let dict = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
            dtype.descr()
        );
        let parts = if dtype.is_complex() { 2 } else { 1 };
        let data: Vec<u8> = if dtype.is_single() {
            (0..parts).flat_map(|_| 0.5f32.to_le_bytes()).collect()
        } else {
            (0..parts).flat_map(|_| 0.5f64.to_le_bytes()).collect()
        };
        with_raw_header(&dict, &data)
    }

    #[test]
    fn every_dtype_and_order_round_trips() {
        for dt in [Dtype::F32, Dtype::F64, Dtype::C64, Dtype::C128] {
            for fo in [false, true] {
                let parts = if dt.is_complex() { 12 } else { 6 };
                let v: Vec<f64> = (0..parts).map(|i| i as f64 * 0.5 - 1.0).collect();
                let (h, d) = parse(&to_bytes(dt, &[2, 3], fo, &v)).unwrap();
                assert_eq!(
                    (h.dtype, h.fortran_order, h.shape.clone(), h.count),
                    (dt, fo, vec![2, 3], 6)
                );
                assert_eq!(d.to_f64(), v);
                assert_eq!(h.data_start % 64, 0);
                assert_eq!(parse(&with_shape(dt, "(1,)")).unwrap().0.count, 1);
            }
        }
        // 0-d and empty arrays.
        let (h, d) = parse(&with_shape(Dtype::F64, "()")).unwrap();
        assert_eq!((h.shape.len(), h.count, d), (0, 1, Data::F64(vec![0.5])));
        let (h, d) = parse(&with_shape(Dtype::F64, "(0, 4)")).unwrap();
        assert_eq!((h.count, d), (0, Data::F64(vec![])));
    }

    #[test]
    fn crafted_headers_are_errors_that_say_why() {
        let e = |b: &[u8]| parse(b).unwrap_err().to_string();
        // The size product overflows usize: 2^61 complex128 = 2^65 bytes; 2^32 * 2^32 elements.
        assert!(e(&with_shape(Dtype::C128, "(2305843009213693952,)")).contains("more bytes than"));
        assert!(e(&with_shape(Dtype::F32, "(4294967296, 4294967296)")).contains("more elements than"));
        // Larger than the file.
        let m = e(&with_shape(Dtype::F64, "(1000,)"));
        assert!(m.contains("holds 8 bytes of data") && m.contains("needs 8000"), "{m}");
        assert!(e(b"hello world").contains("magic"));
        assert!(e(&with_shape(Dtype::F64, "(-3,)")).contains("'-3' is not an extent"));
        assert!(e(&with_shape(Dtype::F64, "5")).contains("not a tuple"));
        let mut be = with_shape(Dtype::F64, "(1,)");
        let at = be.windows(3).position(|w| w == b"<f8").unwrap();
        be[at] = b'>';
        let m = e(&be);
        assert!(m.contains("not little-endian"), "{m}");
        // Header length past the end of the file (format 2.0: 4-byte length).
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(e(&v2).contains("truncated header"));
    }

    #[test]
    fn outputs_appear_together_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("tblas-npy-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.npy"), dir.join("b.json"));
        let missing = dir.join("no-such-folder").join("r.json");
        assert!(Outputs::check([a.as_path(), b.as_path()]).is_ok());
        let m = Outputs::check([a.as_path(), missing.as_path()]).unwrap_err();
        assert!(m.contains("does not exist") && m.contains("no-such-folder"), "{m}");
        assert!(Outputs::check([dir.as_path()]).unwrap_err().contains("is a folder"));
        // A failed second write: nothing under a final name, no temporary left.
        {
            let mut o = Outputs::new();
            o.write(&a, b"1").unwrap();
            assert!(o.write(&missing, b"2").is_err());
        }
        let names = |d: &Path| {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert!(names(&dir).is_empty(), "{:?}", names(&dir));
        let mut o = Outputs::new();
        o.write(&a, b"1").unwrap();
        o.write(&b, b"2").unwrap();
        assert!(names(&dir).is_empty() || !a.exists());
        o.commit().unwrap();
        assert_eq!(names(&dir), ["a.npy", "b.json"]);
        assert_eq!(std::fs::read(&b).unwrap(), b"2");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
