//! The sweep tool runs end to end on a tiny configuration and writes the documented CSV and its
//! `machine.txt` (no timing is asserted: only that every variant produced a row with sane
//! fields).

use std::process::Command;

#[test]
fn tiny_sweep_writes_the_documented_csv() {
    let out = std::env::temp_dir().join(format!("tblas-sweep-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_tensorblas-bench"))
        .args([
            "sweep",
            "--types",
            "s,z",
            "--sizes",
            "4,9",
            "--samples",
            "2",
            "--sample-ms",
            "1",
            "--dram-mb",
            "4",
            "--threads",
            "2",
        ])
        .arg("--out")
        .arg(&out)
        .env("TBLAS_ISA", "portable")
        .status()
        .expect("run tensorblas-bench");
    assert!(status.success());
    // What it ran on: the instruction set it was told (portable runs on every CPU), the threads,
    // the measured limits.
    let machine = std::fs::read_to_string(out.join("machine.txt")).expect("machine.txt");
    for line in ["isa: portable", "threads: 2", "TBLAS_ISA=portable"] {
        assert!(
            machine.lines().any(|l| l == line),
            "no '{line}' in machine.txt:\n{machine}"
        );
    }
    for prefix in ["cpu: ", "peak: ", "copy bandwidth: "] {
        assert!(
            machine.lines().any(|l| l.starts_with(prefix)),
            "no '{prefix}' in machine.txt:\n{machine}"
        );
    }
    let csv = std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("op,type,backend,m,n,k,batch,layout,threads,median_ns,min_ns,samples,gflops")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 2 types x 2 sizes x 2 regimes, each with our strided and batched rows at least.
    assert!(rows.len() >= 16, "{} rows", rows.len());
    for r in &rows {
        assert_eq!(r.len(), 13, "{r:?}");
        let gflops: f64 = r[12].parse().unwrap();
        assert!(gflops.is_finite() && gflops > 0.0, "{r:?}");
        assert_eq!(r[8], "2");
    }
    for ty in ["s", "z"] {
        for regime in ["cache-NN", "dram-NN"] {
            assert!(
                rows.iter().any(|r| r[0] == "strided" && r[1] == ty && r[7] == regime),
                "no strided row for {ty} {regime}"
            );
        }
    }
    assert!(rows.iter().any(|r| r[0] == "flat_gemm"));
    // Two samples per variant, taken in rounds: still one row per variant, recording both.
    let mut keys: Vec<String> = rows
        .iter()
        .map(|r| [r[0], r[1], r[2], r[3], r[4], r[5], r[7]].join(","))
        .collect();
    keys.sort();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "a variant with more than one row");
    assert!(rows.iter().all(|r| r[11] == "2"), "samples column");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_options_are_rejected_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_tensorblas-bench"))
        .args(["sweep", "--types", "q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown type 'q'"));
    let out = Command::new(env!("CARGO_BIN_EXE_tensorblas-bench"))
        .args(["sweep", "--sizes", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn tiny_contract_run_writes_every_case() {
    let out = std::env::temp_dir().join(format!("tblas-contract-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_tensorblas-bench"))
        .args([
            "contract",
            "--types",
            "d",
            "--sizes",
            "3",
            "--samples",
            "1",
            "--sample-ms",
            "1",
            "--candidates",
        ])
        .arg("--out")
        .arg(&out)
        .status()
        .expect("run tensorblas-bench contract");
    assert!(status.success());
    let csv = std::fs::read_to_string(out.join("contract.csv")).expect("contract.csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("case,spec,type,t,variant,backend,threads,median_ns,min_ns,gflops,plan")
    );
    let rows: Vec<&str> = lines.collect();
    // One flat GEMM, then einsum and ttgt for each of the 36 cases (plus candidates).
    let einsum = rows.iter().filter(|r| r.contains(",einsum,")).count();
    let ttgt = rows.iter().filter(|r| r.contains(",ttgt,")).count();
    assert_eq!((einsum, ttgt), (36, 36));
    assert!(rows.iter().all(|r| r.ends_with('"') && !r.contains("NaN")), "{rows:?}");
    assert!(rows
        .iter()
        .filter(|r| r.contains(",einsum,"))
        .all(|r| r.contains("no copy")));
    let table = std::fs::read_to_string(out.join("table.txt")).expect("table.txt");
    assert!(
        table.contains("einsum / transpose-then-GEMM: geometric mean"),
        "{table}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
