//! tensorblas' CUDA kernels compile with NVRTC for every element type — on any machine where
//! libnvrtc loads, GPU or not. The tests are `#[ignore]`d with the reason (a plain `cargo test`
//! reports them as ignored, not passed); run them with `-- --include-ignored`. CI installs the
//! NVRTC wheel, sets TBLAS_REQUIRE_NVRTC=1 and runs them with `--ignored`, so there a missing
//! library fails them instead of skipping.

use tensorblas::{compile_kernels_ptx, DataType, Error};

#[test]
#[ignore = "needs libnvrtc.so.13 (pip install nvidia-cuda-nvrtc==13.0.*): cargo test --test gpu_kernels -- --include-ignored; TBLAS_REQUIRE_NVRTC=1 fails if missing"]
fn every_kernel_compiles_to_ptx_for_every_type() {
    let types = [DataType::R32F, DataType::R64F, DataType::C32F, DataType::C64F];
    // Turing (NVRTC 13's oldest target), Ampere, Hopper, Blackwell.
    for cc in [75, 80, 90, 100] {
        for dt in types {
            match compile_kernels_ptx(dt, cc) {
                Ok(ptx) => {
                    for name in tensorblas::device::KERNEL_NAMES {
                        assert!(
                            ptx.contains(&format!(".entry {name}")),
                            "{dt:?} compute_{cc}: PTX lacks the entry point {name}"
                        );
                    }
                    assert!(
                        ptx.contains(&format!(".target sm_{cc}")),
                        "{dt:?}: PTX for the wrong target"
                    );
                }
                Err(Error::BackendUnavailable(why)) => {
                    if std::env::var("TBLAS_REQUIRE_NVRTC").is_ok_and(|v| v == "1") {
                        panic!("TBLAS_REQUIRE_NVRTC=1 but NVRTC is unavailable: {why}");
                    }
                    eprintln!("skipping every_kernel_compiles_to_ptx_for_every_type: {why}");
                    return;
                }
                Err(e) => panic!("{dt:?} compute_{cc}: {e}"),
            }
        }
    }
}

#[test]
#[ignore = "needs libnvrtc.so.13 (pip install nvidia-cuda-nvrtc==13.0.*): cargo test --test gpu_kernels -- --include-ignored; TBLAS_REQUIRE_NVRTC=1 fails if missing"]
fn ptx_of_real_and_complex_types_differ() {
    let (s, z) = match (
        compile_kernels_ptx(DataType::R32F, 90),
        compile_kernels_ptx(DataType::C64F, 90),
    ) {
        (Ok(s), Ok(z)) => (s, z),
        (Err(e), _) | (_, Err(e)) => {
            assert!(
                !std::env::var("TBLAS_REQUIRE_NVRTC").is_ok_and(|v| v == "1"),
                "TBLAS_REQUIRE_NVRTC=1 but: {e}"
            );
            eprintln!("skipping ptx_of_real_and_complex_types_differ: {e}");
            return;
        }
    };
    // f32 kernels load 4-byte elements; complex f64 kernels 8-byte halves with f64 FMAs.
    assert!(s.contains("fma.rn.f32") && !s.contains("fma.rn.f64"));
    assert!(z.contains("fma.rn.f64"));
}

#[test]
#[ignore = "needs libnvrtc.so.13 (pip install nvidia-cuda-nvrtc==13.0.*): cargo test --test gpu_kernels -- --include-ignored; TBLAS_REQUIRE_NVRTC=1 fails if missing"]
fn every_kernel_compiles_to_a_cubin_for_hopper() {
    for dt in [DataType::R32F, DataType::R64F, DataType::C32F, DataType::C64F] {
        match tensorblas::compile_kernels_cubin(dt, 90) {
            // An ELF image (what cuModuleLoadData gets on an H100 / H200).
            Ok(bin) => assert!(
                bin.len() > 1000 && bin.starts_with(b"\x7fELF"),
                "{dt:?}: not an ELF cubin"
            ),
            Err(Error::BackendUnavailable(why)) => {
                assert!(
                    !std::env::var("TBLAS_REQUIRE_NVRTC").is_ok_and(|v| v == "1"),
                    "TBLAS_REQUIRE_NVRTC=1 but NVRTC is unavailable: {why}"
                );
                eprintln!("skipping every_kernel_compiles_to_a_cubin_for_hopper: {why}");
                return;
            }
            Err(e) => panic!("{dt:?}: {e}"),
        }
    }
}
