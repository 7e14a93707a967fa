//! Replays the committed fuzz corpus (`fuzz/corpus/c_abi/`) and a deterministic stream of
//! pseudo-random inputs through the C-ABI fuzz harness (`fuzz/src/lib.rs`, compiled in here
//! without instrumentation), so every `cargo test` re-checks what the fuzzer found interesting.
//! The coverage-guided run under AddressSanitizer is `fuzz/run.sh` (see its header).

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::path::Path;

#[test]
fn corpus_replays_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/c_abi");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("fuzz/corpus/c_abi exists") {
        let p = e.expect("entry").path();
        let data = std::fs::read(&p).expect("readable");
        harness::run(&data);
        n += 1;
    }
    assert!(
        n >= 20,
        "expected a committed seed corpus, found {n} files in {}",
        dir.display()
    );
}

#[test]
fn random_inputs_replay_clean() {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..300_000 {
        let len = (s % 97) as usize + 8;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect();
        harness::run(&data);
    }
    let stats: Vec<usize> = harness::STATS
        .iter()
        .map(|s| s.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    eprintln!("fuzz harness outcomes (gemm rejected, gemm oracle, gemm quick, skipped, contraction rejected, contraction oracle, explain): {stats:?}");
}
