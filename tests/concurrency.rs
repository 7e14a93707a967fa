//! Concurrency (issue #6): many threads share one CPU handle (through the C ABI, as C callers
//! do) and run a mix of calls — all four types, threaded and small GEMMs, contractions, and
//! failing calls — in different orders. Every result must be bitwise equal to the serial run's
//! (docs/c-api.md rule 9), and every thread's last-error state must be its own: right after each call
//! the position and message are those of that call (0 and "" after a success), whatever the
//! other threads are failing with meanwhile.

use std::ffi::CStr;
use tensorblas::ffi::*;
use tensorblas::{Complex32, Complex64};

#[derive(Clone, Copy)]
struct H(*mut tblas_handle);
// SAFETY: a CPU handle may be shared between threads (docs/c-api.md rule 8); that is what is tested.
unsafe impl Send for H {}
// SAFETY: as above.
unsafe impl Sync for H {}

/// What one call produced: status, last-error position and message, and C's bits.
#[derive(PartialEq, Debug, Clone)]
struct Outcome {
    status: i32,
    position: i32,
    message: String,
    c: Vec<u64>,
}

fn last() -> (i32, String) {
    let p = tblas_get_last_error_message();
    // SAFETY: NUL-terminated, valid until this thread's next call.
    let m = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    (tblas_get_last_error_position(), m)
}

fn vals(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

/// Call number `i` of the mix, run on `h`.
fn call(h: H, i: usize) -> Outcome {
    let h = h.0;
    let done = |status: i32, c: Vec<u64>| {
        let (position, message) = last();
        Outcome {
            status,
            position,
            message,
            c,
        }
    };
    // Sizes: small (own kernels), and large enough to be split over the pool's threads.
    let (m, n, k, batch) = [(4, 5, 3, 7), (64, 64, 64, 4), (150, 130, 170, 1), (8, 300, 8, 16)][i % 4];
    let (m, n, k, batch) = (m as i64, n as i64, k as i64, batch as i64);
    let a = vals(i as u64 + 1, (m * k * batch) as usize);
    let b = vals(i as u64 + 100, (k * n * batch) as usize);
    let c0 = vals(i as u64 + 200, (m * n * batch) as usize);
    // SAFETY: (all arms) buffers are sized for the described packed layouts.
    unsafe {
        match i % 9 {
            0 => {
                let mut c = c0.clone();
                let st = tblas_dgemm_strided_batched(
                    h,
                    0,
                    1,
                    m,
                    n,
                    k,
                    &1.5,
                    a.as_ptr(),
                    m,
                    m * k,
                    b.as_ptr(),
                    n,
                    k * n,
                    &0.5,
                    c.as_mut_ptr(),
                    m,
                    m * n,
                    batch,
                );
                done(st, c.iter().map(|x| x.to_bits()).collect())
            }
            1 => {
                let (a, b) = (f32v(&a), f32v(&b));
                let mut c = f32v(&c0);
                let st = tblas_sgemm_strided_batched(
                    h,
                    1,
                    0,
                    m,
                    n,
                    k,
                    &1.0,
                    a.as_ptr(),
                    k,
                    m * k,
                    b.as_ptr(),
                    k,
                    k * n,
                    &0.0,
                    c.as_mut_ptr(),
                    m,
                    m * n,
                    batch,
                );
                done(st, c.iter().map(|x| x.to_bits() as u64).collect())
            }
            2 => {
                let cz = |v: &[f64]| -> Vec<Complex64> { v.iter().map(|&x| Complex64::new(x, 1.0 - x)).collect() };
                let (a, b, mut c) = (cz(&a), cz(&b), cz(&c0));
                let one = tblas_complex_double { re: 1.0, im: -0.5 };
                let st = tblas_zgemm_strided_batched(
                    h,
                    2,
                    0,
                    m,
                    n,
                    k,
                    &one,
                    a.as_ptr().cast(),
                    k,
                    m * k,
                    b.as_ptr().cast(),
                    k,
                    k * n,
                    &one,
                    c.as_mut_ptr().cast(),
                    m,
                    m * n,
                    batch,
                );
                done(st, c.iter().flat_map(|x| [x.re.to_bits(), x.im.to_bits()]).collect())
            }
            3 => {
                let cc = |v: &[f64]| -> Vec<Complex32> { v.iter().map(|&x| Complex32::new(x as f32, 0.25)).collect() };
                let (a, b, mut c) = (cc(&a), cc(&b), cc(&c0));
                let one = tblas_complex_float { re: 1.0, im: 0.0 };
                let zero = tblas_complex_float { re: 0.0, im: 0.0 };
                let st = tblas_cgemm_strided_batched_ex(
                    h,
                    0,
                    0,
                    m,
                    n,
                    k,
                    &one,
                    a.as_ptr().cast(),
                    1,
                    m,
                    m * k,
                    b.as_ptr().cast(),
                    n * batch,
                    1,
                    n,
                    &zero,
                    c.as_mut_ptr().cast(),
                    1,
                    m * batch,
                    m,
                    batch,
                );
                done(
                    st,
                    c.iter()
                        .flat_map(|x| [x.re.to_bits() as u64, x.im.to_bits() as u64])
                        .collect(),
                )
            }
            4 => {
                // Contraction C_mnp = A_mk B_knp (einsum form).
                let (mm, kk, nn, pp) = (m, k, n, batch);
                let a = vals(7 + i as u64, (mm * kk) as usize);
                let b = vals(8 + i as u64, (kk * nn * pp) as usize);
                let mut c = vec![f64::NAN; (mm * nn * pp) as usize];
                let st = tblas_einsum(
                    h,
                    1,
                    c"mk,knp->mnp".as_ptr(),
                    (&1.0f64 as *const f64).cast(),
                    a.as_ptr().cast(),
                    [mm, kk].as_ptr(),
                    std::ptr::null(),
                    b.as_ptr().cast(),
                    [kk, nn, pp].as_ptr(),
                    std::ptr::null(),
                    (&0.0f64 as *const f64).cast(),
                    c.as_mut_ptr().cast(),
                    [mm, nn, pp].as_ptr(),
                    std::ptr::null(),
                );
                done(st, c.iter().map(|x| x.to_bits()).collect())
            }
            // Failing calls, each with its own position and message.
            5 => {
                let mut c = c0.clone();
                let st = tblas_dgemm(
                    h,
                    0,
                    0,
                    m,
                    n,
                    k,
                    &1.0,
                    a.as_ptr(),
                    m - 1,
                    b.as_ptr(),
                    k,
                    &0.0,
                    c.as_mut_ptr(),
                    m,
                );
                done(st, c.iter().map(|x| x.to_bits()).collect())
            }
            6 => {
                let mut c = c0.clone();
                // Batch entries of C overlap (stride_c too small for m x n entries).
                let st = tblas_dgemm_strided_batched(
                    h,
                    0,
                    0,
                    m,
                    n,
                    k,
                    &1.0,
                    a.as_ptr(),
                    m,
                    m * k,
                    b.as_ptr(),
                    k,
                    k * n,
                    &0.0,
                    c.as_mut_ptr(),
                    m,
                    1,
                    batch.max(2),
                );
                done(st, c.iter().map(|x| x.to_bits()).collect())
            }
            7 => {
                let mut c = vec![0.0f64; 4];
                let st = tblas_einsum(
                    h,
                    1,
                    c"ab,bc->ad".as_ptr(),
                    (&1.0f64 as *const f64).cast(),
                    a.as_ptr().cast(),
                    [2i64, 2].as_ptr(),
                    std::ptr::null(),
                    b.as_ptr().cast(),
                    [2i64, 2].as_ptr(),
                    std::ptr::null(),
                    (&0.0f64 as *const f64).cast(),
                    c.as_mut_ptr().cast(),
                    [2i64, 2].as_ptr(),
                    std::ptr::null(),
                );
                done(st, c.iter().map(|x| x.to_bits()).collect())
            }
            _ => {
                let mut c = f32v(&c0);
                let st = tblas_sgemm_batched(
                    h,
                    0,
                    7,
                    m,
                    n,
                    k,
                    &1.0,
                    std::ptr::null(),
                    m,
                    std::ptr::null(),
                    k,
                    &0.0,
                    [c.as_mut_ptr()].as_ptr(),
                    m,
                    1,
                );
                done(st, c.iter().map(|x| x.to_bits() as u64).collect())
            }
        }
    }
}

fn f32v(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

#[test]
fn shared_handle_many_threads_matches_serial() {
    let mut hp = std::ptr::null_mut();
    // SAFETY: out-pointer to a local.
    assert_eq!(unsafe { tblas_create(&mut hp) }, 0);
    let h = H(hp);
    const CALLS: usize = 36;
    let serial: Vec<Outcome> = (0..CALLS).map(|i| call(h, i)).collect();
    // The mix really mixes: successes and four kinds of failure.
    assert!(serial.iter().filter(|o| o.status == 0).count() >= 16);
    assert!(serial.iter().filter(|o| o.status == 7).count() >= 12);
    for o in &serial {
        assert_eq!(o.status == 0, o.position == 0 && o.message.is_empty(), "{o:?}");
    }
    let threads = 8;
    std::thread::scope(|s| {
        for t in 0..threads {
            let serial = &serial;
            s.spawn(move || {
                for round in 0..6 {
                    for j in 0..CALLS {
                        // A different order per thread and round.
                        let i = (j * (2 * t + 1) + round * 5 + t) % CALLS;
                        let got = call(h, i);
                        assert_eq!(got.status, serial[i].status, "thread {t} call {i}");
                        assert_eq!(
                            got.position, serial[i].position,
                            "thread {t} call {i}: last-error position"
                        );
                        assert_eq!(
                            got.message, serial[i].message,
                            "thread {t} call {i}: last-error message"
                        );
                        assert!(
                            got.c == serial[i].c,
                            "thread {t} call {i}: C differs from the serial run"
                        );
                    }
                }
            });
        }
    });
    // SAFETY: created above, destroyed once.
    assert_eq!(unsafe { tblas_destroy(hp) }, 0);
}
