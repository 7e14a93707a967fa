//! The baseline: the six-step distributed FFT with three all-to-alls (docs/fmm-fft.md §4.3), over the same
//! fabric. N = N1·N2, input viewed as `A[n2][n1]` (n = n1 + N1·n2), block-distributed by rows.

use crate::fabric::Fabric;
use crate::plan::{twiddle, Plan};
use crate::work::{fft_in_place, nan, DeviceWork, Pool};
use crate::{DeviceStats, FftError, Real};
use num_complex::{Complex, Complex64};
use std::time::Instant;

pub use crate::plan::factor;

/// One device's work arrays, kept in the caller's workspace between transforms like the FMM's: the message
/// and transpose buffers, and this device's twiddles ω_N^{n1·k2} (computed once, in f64).
#[derive(Default)]
pub(crate) struct Work<T> {
    cx: Pool<Complex<T>>,
    twiddles: Vec<Complex64>,
}

/// Forward six-step FFT of this device's block `x` (N/G points, natural order; conjugated on the
/// way in when `conj_in`) into its block `out` (natural order).
pub(crate) fn device<T: Real, F: Fabric>(
    plan: &Plan,
    (x, conj_in): (&[Complex<T>], bool),
    fab: &F,
    out: &mut [Complex<T>],
    st: &mut DeviceStats,
    slot: &mut DeviceWork,
) -> Result<(), FftError> {
    let (n, ffts) = (plan.spec().n, &plan.ffts);
    let (g, gn) = (fab.rank(), fab.size());
    let (n1, n2) = factor(n, gn)?;
    let (r2, c1) = (n2 / gn, n1 / gn); // rows of A per device, columns per device
    let mut wk: Work<T> = slot.take();
    if wk.twiddles.len() != c1 * n2 {
        // Twiddle ω_N^{n1·k2} for this device's columns, phase reduced in integers.
        wk.twiddles = (0..c1)
            .flat_map(|j1| {
                let i1 = (g * c1 + j1) as u64;
                (0..n2).map(move |k2| twiddle(i1 * k2 as u64, n as u64))
            })
            .collect();
    }
    let zero = Complex::new(<T as tensorblas::Scalar>::zero(), <T as tensorblas::Scalar>::zero());
    let poison = Complex::new(nan::<T>(), nan::<T>());
    let t_all = Instant::now();
    // T1: A[n2][n1] rows (g) -> columns (h): send block rows(g) x cols(h) as [n2_loc][n1_loc].
    let mut mark = Instant::now();
    let chunks: Vec<Vec<Complex<T>>> = (0..gn)
        .map(|h| {
            let mut v = wk.cx.take_empty(r2 * c1);
            for i2 in 0..r2 {
                let row = &x[i2 * n1 + h * c1..i2 * n1 + (h + 1) * c1];
                if conj_in {
                    v.extend(row.iter().map(|a| a.conj()));
                } else {
                    v.extend_from_slice(row);
                }
            }
            v
        })
        .collect();
    let recv = fab.all_to_all(chunks)?;
    st.add("alltoall", mark.elapsed().as_secs_f64());
    mark = Instant::now();
    // Columns n1 in cols(g), all n2: Z[n1_loc][n2].
    let mut z = wk.cx.take(c1 * n2, zero, poison);
    for (d, ch) in recv.into_iter().enumerate() {
        for i2 in 0..r2 {
            for j1 in 0..c1 {
                z[j1 * n2 + d * r2 + i2] = ch[i2 * c1 + j1];
            }
        }
        wk.cx.give(ch);
    }
    fft_in_place(&*ffts.forward::<T>(n2), &mut z, &mut wk.cx, st);
    for (v, &w) in z.iter_mut().zip(&wk.twiddles) {
        let v64 = Complex64::new(v.re.to_c64().re, v.im.to_c64().re);
        *v = from64::<T>(v64 * w);
    }
    st.add("fft", mark.elapsed().as_secs_f64());
    mark = Instant::now();
    // T2: Z[n1 in cols(g)][k2] -> rows k2 in rows(h): block [k2_loc][n1_loc].
    let chunks: Vec<Vec<Complex<T>>> = (0..gn)
        .map(|h| {
            let mut v = wk.cx.take_empty(r2 * c1);
            for k2l in 0..r2 {
                for j1 in 0..c1 {
                    v.push(z[j1 * n2 + h * r2 + k2l]);
                }
            }
            v
        })
        .collect();
    wk.cx.give(z);
    let recv = fab.all_to_all(chunks)?;
    st.add("alltoall", mark.elapsed().as_secs_f64());
    mark = Instant::now();
    // Rows k2 in rows(g), all n1: W[k2_loc][n1]; FFT over n1 gives X[k2 + N2 k1] at W[k2_loc][k1].
    let mut w = wk.cx.take(r2 * n1, zero, poison);
    for (d, ch) in recv.into_iter().enumerate() {
        for k2l in 0..r2 {
            w[k2l * n1 + d * c1..k2l * n1 + (d + 1) * c1].copy_from_slice(&ch[k2l * c1..(k2l + 1) * c1]);
        }
        wk.cx.give(ch);
    }
    fft_in_place(&*ffts.forward::<T>(n1), &mut w, &mut wk.cx, st);
    st.add("fft", mark.elapsed().as_secs_f64());
    mark = Instant::now();
    // T3: to natural order. Device h owns K in [h N/G, (h+1) N/G) = k1 in cols(h), all k2.
    let chunks: Vec<Vec<Complex<T>>> = (0..gn)
        .map(|h| {
            let mut v = wk.cx.take_empty(r2 * c1);
            for k2l in 0..r2 {
                v.extend_from_slice(&w[k2l * n1 + h * c1..k2l * n1 + (h + 1) * c1]);
            }
            v
        })
        .collect();
    wk.cx.give(w);
    let recv = fab.all_to_all(chunks)?;
    st.add("alltoall", mark.elapsed().as_secs_f64());
    mark = Instant::now();
    debug_assert_eq!(out.len(), n / gn);
    for (d, ch) in recv.into_iter().enumerate() {
        for k2l in 0..r2 {
            let k2 = d * r2 + k2l;
            for j1 in 0..c1 {
                // K = k2 + N2 k1 with k1 = g c1 + j1: local index K - g N/G = k2 + N2 j1.
                out[k2 + n2 * j1] = ch[k2l * c1 + j1];
            }
        }
        wk.cx.give(ch);
    }
    st.add("reshuffle", mark.elapsed().as_secs_f64());
    st.total_secs += t_all.elapsed().as_secs_f64();
    slot.put(wk);
    Ok(())
}

fn from64<T: Real>(v: Complex64) -> Complex<T> {
    Complex::new(
        T::from_c64(Complex64::new(v.re, 0.0)),
        T::from_c64(Complex64::new(v.im, 0.0)),
    )
}
