//! Criterion benches for a fixed shape set (CI builds them with `cargo bench --no-run`; nothing
//! is timed in CI). `cargo bench -p tensorblas-criterion -- --quick` runs them in seconds.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tensorblas::{CpuBackend, Handle, Op, Scalar};

fn strided<T: Scalar>(c: &mut Criterion, name: &str) {
    let mut g = c.benchmark_group(format!("strided_batched_{name}"));
    // Square sizes of the sweep, plus contraction-shaped entries (k = 8, tall-skinny).
    for &(m, n, k, batch) in &[
        (4, 4, 4, 4096),
        (8, 8, 8, 2048),
        (16, 16, 16, 512),
        (32, 32, 32, 64),
        (64, 64, 8, 64),
        (128, 8, 128, 64),
    ] {
        let a = vec![T::one(); m * k * batch];
        let b = vec![T::one(); k * n * batch];
        let mut cbuf = vec![T::zero(); m * n * batch];
        g.throughput(Throughput::Elements((m * n * k * batch) as u64));
        for backend in CpuBackend::all_available()
            .into_iter()
            .filter(|b| *b != CpuBackend::Reference)
        {
            let h = Handle::with_backend(backend).unwrap();
            g.bench_with_input(
                BenchmarkId::new(backend.name(), format!("{m}x{n}x{k}x{batch}")),
                &(),
                |bch, _| {
                    bch.iter(|| {
                        h.gemm_strided_batched(
                            Op::N,
                            Op::N,
                            m,
                            n,
                            k,
                            T::one(),
                            &a,
                            m,
                            (m * k) as isize,
                            &b,
                            k,
                            (k * n) as isize,
                            T::zero(),
                            &mut cbuf,
                            m,
                            (m * n) as isize,
                            batch,
                        )
                        .unwrap()
                    })
                },
            );
        }
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    strided::<f32>(c, "f32");
    strided::<f64>(c, "f64");
    strided::<tensorblas::Complex32>(c, "c32");
}

criterion_group!(gemm, benches);
criterion_main!(gemm);
