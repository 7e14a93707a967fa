//! Per-entry cost of the pointer-array form against the strided form, through the C ABI and
//! the Rust API, on the same buffers (issue #15 item 4). Prints ns per entry, best of 15
//! samples of >= 30 ms each.
//!
//! ```sh
//! cargo run --release --example batched_probe -- [SIZE] [BATCH]     # default 4 4096, f32
//! ```
use std::time::Instant;
use tensorblas::ffi::{tblas_create, tblas_destroy, tblas_handle, tblas_sgemm_batched, tblas_sgemm_strided_batched};
use tensorblas::{Handle, Op};

fn best_ns(batch: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..15 {
        let t = Instant::now();
        let mut reps = 0;
        while t.elapsed().as_secs_f64() < 0.03 {
            f();
            reps += 1;
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    best * 1e9 / batch as f64
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    let s = args.first().copied().unwrap_or(4);
    let batch = args.get(1).copied().unwrap_or(4096);
    let st = s * s;
    let a: Vec<f32> = (0..st * batch).map(|i| (i % 7) as f32 * 0.1).collect();
    let b = a.clone();
    let mut c = vec![0f32; st * batch];
    let (si, ni) = (s as i64, batch as i64);
    let (one, zero) = (1f32, 0f32);
    let mut h: *mut tblas_handle = std::ptr::null_mut();
    // SAFETY: h is a valid out-pointer.
    assert_eq!(unsafe { tblas_create(&mut h) }, 0);
    let strided_c = best_ns(batch, || {
        // SAFETY: every buffer holds batch entries of s x s, packed.
        let r = unsafe {
            tblas_sgemm_strided_batched(
                h,
                0,
                0,
                si,
                si,
                si,
                &one,
                a.as_ptr(),
                si,
                st as i64,
                b.as_ptr(),
                si,
                st as i64,
                &zero,
                c.as_mut_ptr(),
                si,
                st as i64,
                ni,
            )
        };
        assert_eq!(r, 0);
    });
    let ap: Vec<*const f32> = (0..batch).map(|i| a[i * st..].as_ptr()).collect();
    let bp: Vec<*const f32> = (0..batch).map(|i| b[i * st..].as_ptr()).collect();
    let cbase = c.as_mut_ptr();
    // SAFETY: in bounds of c.
    let cp: Vec<*mut f32> = (0..batch).map(|i| unsafe { cbase.add(i * st) }).collect();
    let batched_c = best_ns(batch, || {
        // SAFETY: each pointer addresses one s x s entry.
        let r = unsafe {
            tblas_sgemm_batched(
                h,
                0,
                0,
                si,
                si,
                si,
                &one,
                ap.as_ptr(),
                si,
                bp.as_ptr(),
                si,
                &zero,
                cp.as_ptr(),
                si,
                ni,
            )
        };
        assert_eq!(r, 0);
    });
    // SAFETY: created above.
    unsafe { tblas_destroy(h) };
    let hr = Handle::new().expect("handle");
    let strided_rs = best_ns(batch, || {
        hr.gemm_strided_batched(
            Op::N,
            Op::N,
            s,
            s,
            s,
            1.0,
            &a,
            s,
            st as isize,
            &b,
            s,
            st as isize,
            0.0,
            &mut c,
            s,
            st as isize,
            batch,
        )
        .expect("strided");
    });
    let ar: Vec<&[f32]> = a.chunks(st).collect();
    let br: Vec<&[f32]> = b.chunks(st).collect();
    let mut cr: Vec<&mut [f32]> = c.chunks_mut(st).collect();
    let batched_rs = best_ns(batch, || {
        hr.gemm_batched(Op::N, Op::N, s, s, s, 1.0, &ar, s, &br, s, 0.0, &mut cr, s)
            .expect("batched");
    });
    println!(
        "{s}x{s}x{s} f32 x {batch}, ns per entry (threads {}):",
        hr.num_threads()
    );
    println!(
        "  C ABI    strided {strided_c:6.2}  pointer-array {batched_c:6.2}  extra {:6.2}",
        batched_c - strided_c
    );
    println!(
        "  Rust API strided {strided_rs:6.2}  pointer-array {batched_rs:6.2}  extra {:6.2}",
        batched_rs - strided_rs
    );
}
