//! The contraction layer's memory rules: which memory each operand references, that a written
//! C overlaps neither itself nor an input, and that slices hold every addressed element.
//!
//! Pure: addresses are plain integers.
#![forbid(unsafe_code)]

use super::rules::*;
use crate::error::{Error, Result};
use crate::layout::{byte_range, is_injective, offset_range, ranges_intersect, Dim};

// ---------------------------------------------------------------------------------------------
// Memory rules (pure: addresses are integers).

/// Base addresses of the operands (0 = NULL), the element size, and the length of the slice
/// behind each origin where there is one (the safe API's slices; `None` for raw pointers and
/// device memory), for the memory checks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Addrs {
    pub a: usize,
    pub b: usize,
    pub c: usize,
    pub elem: usize,
    pub align: usize,
    pub lens: [Option<usize>; 3],
}

/// Which operands a call reads or writes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Referenced {
    pub ab: bool,
    pub c: bool,
}

impl Problem {
    /// Which operands are touched: C unless it has no elements; A and B unless nothing is
    /// summed (C empty, a summed extent 0, or alpha == 0).
    pub(crate) fn referenced(&self, alpha_zero: bool) -> Referenced {
        let c = !self.c_empty;
        Referenced {
            c,
            ab: c && self.inputs_nonempty && !alpha_zero,
        }
    }

    /// The memory rules: referenced pointers non-NULL and aligned, every address representable,
    /// no two elements of C at one address, and C's address span disjoint from A's and B's.
    pub(crate) fn check_memory(&self, api: Api, at: Addrs, r: Referenced) -> Result<()> {
        let bases = [at.a, at.b, at.c];
        let mut spans = [(0usize, 0usize); 3];
        for t in [TA, TB, TC] {
            let refd = if t == TC { r.c } else { r.ab };
            if !refd {
                continue;
            }
            let when = if t == TC {
                "when C has elements"
            } else {
                "when it is read (C has elements, every extent > 0, alpha != 0)"
            };
            if bases[t] == 0 {
                return Err(api.fail_t(t, W_PTR, format!("must not be NULL {when}")));
            }
            if !bases[t].is_multiple_of(at.align) {
                return Err(api.fail_t(
                    t,
                    W_PTR,
                    format!("must be aligned to {} bytes, got address {:#x}", at.align, bases[t]),
                ));
            }
            spans[t] = byte_range(bases[t], at.elem, self.dims(t))
                .ok_or_else(|| api.fail_t(t, W_STRIDE, "makes element addresses overflow the address space"))?;
        }
        if r.c {
            self.check_layout(api)?;
        }
        if r.ab {
            for t in [TA, TB] {
                if ranges_intersect(spans[TC], spans[t]) {
                    return Err(api.fail_t(
                        TC,
                        W_PTR,
                        format!(
                            "must not overlap {}: the address spans of C and {} intersect",
                            NAMES[t], NAMES[t]
                        ),
                    ));
                }
            }
        }
        // Slices: every addressed element inside, checked last (after every rule of the C
        // contract), at the tensor's own argument.
        for t in [TA, TB, TC] {
            let refd = if t == TC { r.c } else { r.ab };
            if let (true, Some(len)) = (refd, at.lens[t]) {
                if let Some((lo, hi)) = offset_range(self.dims(t)) {
                    if lo < 0 || hi >= len as i128 {
                        return Err(api.fail_t(
                            t,
                            W_PTR,
                            format!("addresses elements up to offset {hi}, but its slice holds {len}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The layout rule of C alone (no addresses): distinct index tuples, distinct elements.
    pub(crate) fn check_layout(&self, api: Api) -> Result<()> {
        if !self.c_empty && !self.c_injective(api)? {
            return Err(api.fail_t(
                TC,
                W_STRIDE,
                "makes distinct elements of C share an address (C must not alias itself)",
            ));
        }
        Ok(())
    }

    /// Whether distinct index tuples of C address distinct elements (exact; an error only when
    /// undecidable within a budget, which no layout with nested strides reaches).
    fn c_injective(&self, api: Api) -> Result<bool> {
        let mut dims: Vec<(i64, i64)> = self
            .dims(TC)
            .iter()
            .filter(|d| d.extent > 1)
            .map(|d| (d.stride, d.extent))
            .collect();
        if dims.iter().any(|d| d.0 == 0) {
            return Ok(false);
        }
        dims.sort_unstable();
        // Sufficient: each stride exceeds the span of all smaller ones (every ordinary layout).
        let mut span = 0i128;
        if dims.iter().all(|&(s, e)| {
            let ok = s as i128 > span;
            span = span.saturating_add(s as i128 * (e as i128 - 1));
            ok
        }) {
            return Ok(true);
        }
        // Fuse contiguous pairs (outer stride = inner extent * inner stride) to shrink the box.
        let mut i = 0;
        while i + 1 < dims.len() {
            if let Some(j) =
                (0..dims.len()).find(|&j| j != i && dims[j].0 as i128 == dims[i].0 as i128 * dims[i].1 as i128)
            {
                dims[i].1 = dims[i].1.saturating_mul(dims[j].1);
                dims.remove(j);
                i = 0;
            } else {
                i += 1;
            }
        }
        if dims.len() <= 3 {
            let d: Vec<Dim> = dims.iter().map(|&(s, e)| Dim::new(e, s)).collect();
            return Ok(is_injective(&d));
        }
        const BUDGET: i128 = 1 << 24;
        let count: i128 = dims.iter().fold(1i128, |acc, d| acc.saturating_mul(d.1 as i128));
        if count > BUDGET {
            return Err(Error::NotSupported(format!(
                "{}: cannot decide whether the strides of C alias ({} modes with interleaved strides, {count} elements); use nested strides",
                api.name(),
                dims.len()
            )));
        }
        // i128: `explain` checks shapes without data, so no memory rule bounds these offsets.
        let mut offs: Vec<i128> = vec![0];
        for &(s, e) in &dims {
            offs = offs
                .iter()
                .flat_map(|&o| (0..e as i128).map(move |x| o + x * s as i128))
                .collect();
        }
        offs.sort_unstable();
        Ok(offs.windows(2).all(|w| w[0] != w[1]))
    }
}
