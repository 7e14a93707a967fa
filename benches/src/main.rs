//! `tensorblas-bench`: the one entry for measurement.
//!
//! `tensorblas-bench sweep [options]` measures, in one run and on the same buffers, tensorblas'
//! strided-batched and pointer-array GEMM (each compiled backend) against what a user would
//! otherwise write (rayon over the batch + single-threaded GEMM per entry with the `gemm` crate
//! or the vendor BLAS, a serial loop of vendor GEMM) and one flat GEMM of equal flops; writes
//! `sweep.csv`, one SVG plot per type, and prints a table of ratios. See `--help`.

mod contract;
mod fft;
#[cfg(feature = "cuda")]
mod gpu;
mod sweep;
mod tucker;

#[global_allocator]
static ALLOC: tucker::Counting = tucker::Counting;
mod vendor;

use std::path::PathBuf;
use std::time::Duration;
use sweep::{Opts, Regime};
use tensorblas::{CpuBackend, CpuEngine};

const HELP: &str = "\
tensorblas-bench sweep [options]
tensorblas-bench contract [--types s,d] [--sizes 16,32,64,128] [--backend B] [--threads N]
                 [--samples N] [--sample-ms MS] [--candidates] [--overhead] [--out DIR] [--quick]
    (the 36 single-index contractions: tensorblas einsum vs transpose-then-GEMM vs a flat GEMM
     of equal flops; --candidates times every plan the cost model weighs, --overhead the
     planning cost; writes DIR/contract.csv, contract-<type>.svg, table.txt; default DIR
     benches/results/contract)
tensorblas-bench tucker [--cases 1,2,3,4] [--n-iter 25] [--no-peer] [--python PY] [--out DIR]
    (HOOI on 100^3/R10, 200^3/R10, 300^3/R20, 400x300x200/R(16,12,8), svd init, tol 0: total,
     init, per sweep vs two GEMM passes, peak extra memory, error; TensorLy on the same data
     through benches/peers/tensorly_tucker.py when Python has tensorly; default DIR
     benches/results/tucker)
tensorblas-bench gpu [--types s,d,c,z] [--sizes 4,...,1024] [--mb MB] [--contract-size S]
                 [--device D] [--out DIR] [--step-timeout S] [--quick]
    (GPU sweep: tensorblas strided batched vs cuBLAS called directly vs the own small-matrix
     and general-stride kernels, and the 8 contraction cases cuBLAS cannot express; writes
     DIR/gpu.csv and DIR/gpu-<device>.md; needs a GPU: benches/gpu/device-run.sh runs it)
tensorblas-bench fft [--log2n 16,18,20,22,24] [--devices 2,4,8] [--precision f64|f32] [--sections-per-device K]
                 [--link-gbs GBS] [--gemm-gflops R] [--fft-gflops F] [--mem-gbs M] [--out DIR] [--quick]
    (FMM-FFT vs six-step vs single-node rustfft, bytes, GEMM share, and docs/fmm-fft.md §7's predicted
     speedup; writes DIR/fft.csv; default DIR benches/results/fft)
tensorblas-bench plot --csv FILE [--peak-f32 GFLOPS] [--bandwidth GBS] [--out DIR]
    (table and plots again from a sweep.csv, without measuring)

Measures every strided-batched GEMM variant in one run (column-major NN, alpha 1, beta 0).

Options:
  --types LIST        s,d,c,z (default s,d,c,z)
  --sizes LIST        square sizes (default 4,8,16,32,64,128,256,512)
  --shapes LIST       m:n:k triples, e.g. 64:64:8,128:8:128 (added to --sizes)
  --regime R          cache | dram | both (default both)
  --threads N         threads for every variant (default: TBLAS_NUM_THREADS or all cores)
  --backends LIST     tensorblas backends to measure (default: native and openblas when built)
  --engines LIST      native engines also measured on their own (strided:native-<engine>):
                      small,packed,gemm-crate (default all three; --quick none; 'none')
  --samples N         samples per variant, taken in rounds: each round times one sample of
                      every variant of a row in turn (default 7; --quick 3)
  --sample-ms MS      minimum duration of one sample (default 20; --quick 5)
  --dram-mb MB        A+B+C bytes per call in the dram regime (default 192; --quick 96)
  --cache-kb KB       largest operand in the cache regime (default 256)
  --out DIR           output directory (default benches/results)
  --quick             s and d, sizes 4..128, fewer samples: about a minute
  -h, --help          this text

Writes DIR/sweep.csv (op,type,backend,m,n,k,batch,layout,threads,median_ns,min_ns,samples,gflops;
gflops from the best sample), DIR/sweep-<type>.svg and DIR/machine.txt (CPU model, the ISA of
tensorblas' kernels, threads, measured FMA peak and copy bandwidth, TBLAS_ISA/OPENBLAS_CORETYPE
when set), and prints the table.

Variants (op:backend): strided:<b> and batched:<b> are tensorblas' strided-batched and
pointer-array calls on backend <b>; rayon_loop:<lib> is rayon over the batch with one
single-threaded GEMM per entry; loop:<vendor> a serial loop of vendor GEMM with the vendor's own
threads; batch_strided:mkl MKL's cblas_?gemm_batch_strided; flat_gemm one GEMM of equal flops.
Vendor variants need a build with --features openblas or --features mkl (MKL: LD_LIBRARY_PATH
must contain $MKLROOT/lib).";

fn list<T: std::str::FromStr>(s: &str, what: &str) -> Result<Vec<T>, String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| x.trim().parse().map_err(|_| format!("bad {what} '{x}'")))
        .collect()
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let quick = args.iter().any(|a| a == "--quick");
    let mut opts = Opts {
        types: vec!['s', 'd', 'c', 'z'],
        shapes: [4, 8, 16, 32, 64, 128, 256, 512].iter().map(|&s| (s, s, s)).collect(),
        regimes: vec![Regime::Cache, Regime::Dram],
        threads: tensorblas::default_num_threads().map_err(|e| e.to_string())?,
        backends: CpuBackend::all_available()
            .into_iter()
            .filter(|b| *b != CpuBackend::Reference)
            .collect(),
        engines: if quick {
            Vec::new()
        } else {
            vec![CpuEngine::Small, CpuEngine::Packed, CpuEngine::GemmCrate]
        },
        samples: if quick { 3 } else { 7 },
        min_sample: Duration::from_millis(if quick { 5 } else { 20 }),
        dram_bytes: if quick { 96 << 20 } else { 192 << 20 },
        cache_bytes: 256 << 10,
        out: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/results")),
    };
    if quick {
        opts.types = vec!['s', 'd'];
        opts.shapes = [4, 8, 16, 32, 64, 128].iter().map(|&s| (s, s, s)).collect();
    }
    let mut extra_shapes = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--quick" => {}
            "--types" => {
                opts.types = val(a)?.chars().filter(|c| *c != ',').collect();
                if let Some(bad) = opts.types.iter().find(|c| !"sdcz".contains(**c)) {
                    return Err(format!("--types: unknown type '{bad}' (use s, d, c, z)"));
                }
            }
            "--sizes" => {
                opts.shapes = list::<usize>(&val(a)?, "size")?
                    .into_iter()
                    .map(|s| (s, s, s))
                    .collect()
            }
            "--shapes" => {
                for t in val(a)?.split(',') {
                    let v = list::<usize>(&t.replace(':', ","), "shape")?;
                    if v.len() != 3 {
                        return Err(format!("--shapes: '{t}' is not m:n:k"));
                    }
                    extra_shapes.push((v[0], v[1], v[2]));
                }
            }
            "--regime" => {
                opts.regimes = match val(a)?.as_str() {
                    "cache" => vec![Regime::Cache],
                    "dram" => vec![Regime::Dram],
                    "both" => vec![Regime::Cache, Regime::Dram],
                    other => return Err(format!("--regime: '{other}' is not cache, dram or both")),
                }
            }
            "--threads" => opts.threads = val(a)?.parse().map_err(|_| "--threads: not a number")?,
            "--backends" => {
                opts.backends = val(a)?
                    .split(',')
                    .map(|b| CpuBackend::parse(b).map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?
            }
            "--engines" => {
                let v = val(a)?;
                opts.engines = if v == "none" {
                    Vec::new()
                } else {
                    v.split(',')
                        .map(|e| CpuEngine::parse(e).ok_or(format!("--engines: unknown engine '{e}'")))
                        .collect::<Result<_, _>>()?
                }
            }
            "--samples" => opts.samples = val(a)?.parse().map_err(|_| "--samples: not a number")?,
            "--sample-ms" => {
                opts.min_sample = Duration::from_millis(val(a)?.parse().map_err(|_| "--sample-ms: not a number")?)
            }
            "--dram-mb" => opts.dram_bytes = val(a)?.parse::<usize>().map_err(|_| "--dram-mb: not a number")? << 20,
            "--cache-kb" => opts.cache_bytes = val(a)?.parse::<usize>().map_err(|_| "--cache-kb: not a number")? << 10,
            "--out" => opts.out = PathBuf::from(val(a)?),
            other => return Err(format!("unknown option '{other}'\n\n{HELP}")),
        }
    }
    opts.shapes.extend(extra_shapes);
    if opts.threads == 0 || opts.shapes.iter().any(|s| s.0 == 0 || s.1 == 0 || s.2 == 0) {
        return Err("--threads and every size must be positive".into());
    }
    Ok(opts)
}

/// `plot`: the table and the SVG plots from an existing CSV.
fn replot(args: &[String]) {
    let mut csv = None;
    let mut out = None;
    let mut machine = sweep::Machine {
        peak_f32: f64::NAN,
        bandwidth: f64::NAN,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--csv" => csv = Some(PathBuf::from(v)),
            "--out" => out = Some(PathBuf::from(v)),
            "--peak-f32" => machine.peak_f32 = v.parse().unwrap_or(f64::NAN),
            "--bandwidth" => machine.bandwidth = v.parse().unwrap_or(f64::NAN),
            other => {
                eprintln!("tensorblas-bench plot: unknown option '{other}'\n\n{HELP}");
                std::process::exit(2);
            }
        }
    }
    let Some(csv) = csv else {
        eprintln!("tensorblas-bench plot: --csv FILE is required");
        std::process::exit(2);
    };
    let rows = match sweep::read_csv(&csv) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tensorblas-bench plot: {e}");
            std::process::exit(2);
        }
    };
    let out = out.unwrap_or_else(|| csv.parent().map(PathBuf::from).unwrap_or_default());
    print!("{}", sweep::table(&rows, &machine));
    match sweep::plot(&rows, &machine, &out) {
        Ok(paths) => paths.iter().for_each(|p| eprintln!("wrote {}", p.display())),
        Err(e) => eprintln!("warning: {e}"),
    }
}

fn tucker_main(args: &[String]) {
    let mut o = tucker::Opts {
        cases: vec![1, 2, 3, 4],
        n_iter: 25,
        peer: true,
        python: "python3".into(),
        out: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/results/tucker")),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = |it: &mut std::slice::Iter<String>| it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--cases" => match list::<usize>(&v(&mut it), "case") {
                Ok(c) if c.iter().all(|&x| (1..=4).contains(&x)) => o.cases = c,
                _ => {
                    eprintln!("tensorblas-bench tucker: --cases takes numbers 1..4");
                    std::process::exit(2);
                }
            },
            "--n-iter" => o.n_iter = v(&mut it).parse().unwrap_or(25),
            "--no-peer" => o.peer = false,
            "--python" => o.python = v(&mut it),
            "--out" => o.out = PathBuf::from(v(&mut it)),
            other => {
                eprintln!("tensorblas-bench tucker: unknown option '{other}'\n\n{HELP}");
                std::process::exit(2);
            }
        }
    }
    print!("{}", tucker::run(&o));
}

fn contract_main(args: &[String]) {
    let quick = args.iter().any(|a| a == "--quick");
    let mut o = contract::Opts {
        types: vec!['s', 'd'],
        sizes: if quick { vec![16, 32] } else { vec![16, 32, 64, 128] },
        backend: CpuBackend::Auto,
        threads: tensorblas::default_num_threads().unwrap_or(1),
        samples: if quick { 3 } else { 7 },
        min_sample: Duration::from_millis(if quick { 5 } else { 20 }),
        candidates: false,
        overhead: false,
        out: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/results/contract")),
    };
    let parsed = (|| -> Result<(), String> {
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
            match a.as_str() {
                "--quick" => {}
                "--candidates" => o.candidates = true,
                "--overhead" => o.overhead = true,
                "--types" => {
                    o.types = val(a)?.chars().filter(|c| *c != ',').collect();
                    if let Some(bad) = o.types.iter().find(|c| !"sdcz".contains(**c)) {
                        return Err(format!("--types: unknown type '{bad}' (use s, d, c, z)"));
                    }
                }
                "--sizes" => o.sizes = list(&val(a)?, "size")?,
                "--backend" => o.backend = CpuBackend::parse(&val(a)?).map_err(|e| e.to_string())?,
                "--threads" => o.threads = val(a)?.parse().map_err(|_| "--threads: not a number")?,
                "--samples" => o.samples = val(a)?.parse().map_err(|_| "--samples: not a number")?,
                "--sample-ms" => {
                    o.min_sample = Duration::from_millis(val(a)?.parse().map_err(|_| "--sample-ms: not a number")?)
                }
                "--out" => o.out = PathBuf::from(val(a)?),
                "-h" | "--help" => {
                    println!("{HELP}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown option '{other}'\n\n{HELP}")),
            }
        }
        if o.threads == 0 || o.sizes.contains(&0) {
            return Err("--threads and every size must be positive".into());
        }
        Ok(())
    })();
    if let Err(e) = parsed {
        eprintln!("tensorblas-bench contract: {e}");
        std::process::exit(2);
    }
    print!("{}", contract::run(&o));
}

fn fft_main(args: &[String]) {
    let mut o = fft::Opts::default();
    let mut it = args.iter();
    let parsed = (|| -> Result<(), String> {
        while let Some(a) = it.next() {
            let mut val = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
            match a.as_str() {
                "--quick" => o.log2n = vec![16, 18, 20],
                "--log2n" => o.log2n = list(&val(a)?, "log2 N")?,
                "--devices" => o.devices = list(&val(a)?, "device count")?,
                "--sections-per-device" => {
                    o.sections_per_device = val(a)?
                        .parse()
                        .ok()
                        .filter(|&k: &usize| k > 0)
                        .ok_or("--sections-per-device: not a positive integer")?
                }
                "--precision" => {
                    o.precision = match val(a)?.as_str() {
                        "f32" => tensorblas_fft::Precision::F32,
                        "f64" => tensorblas_fft::Precision::F64,
                        other => return Err(format!("--precision: '{other}' is not f32 or f64")),
                    }
                }
                "--link-gbs" => o.link_gbs = val(a)?.parse().map_err(|_| "--link-gbs: not a number")?,
                "--gemm-gflops" => o.gemm_gflops = Some(val(a)?.parse().map_err(|_| "--gemm-gflops: not a number")?),
                "--fft-gflops" => o.fft_gflops = Some(val(a)?.parse().map_err(|_| "--fft-gflops: not a number")?),
                "--mem-gbs" => o.mem_gbs = val(a)?.parse().map_err(|_| "--mem-gbs: not a number")?,
                "--out" => o.out = PathBuf::from(val(a)?),
                "-h" | "--help" => {
                    println!("{}", fft::HELP);
                    std::process::exit(0);
                }
                other => return Err(format!("unknown option '{other}'\n\n{}", fft::HELP)),
            }
        }
        let rates_ok = o.gemm_gflops.is_none_or(|r| r > 0.0) && o.fft_gflops.is_none_or(|r| r > 0.0) && o.mem_gbs > 0.0;
        if o.log2n.iter().any(|&e| !(8..=28).contains(&e)) || o.devices.contains(&0) || o.link_gbs <= 0.0 || !rates_ok {
            return Err("--log2n values must be in 8..=28; device counts, bandwidths and rates positive".into());
        }
        Ok(())
    })();
    if let Err(e) = parsed {
        eprintln!("tensorblas-bench fft: {e}");
        std::process::exit(2);
    }
    print!("{}", fft::main(&o));
}

#[cfg(feature = "cuda")]
fn gpu_main(args: &[String]) {
    let mut o = gpu::Opts::default();
    let mut it = args.iter();
    let parsed = (|| -> Result<(), String> {
        while let Some(a) = it.next() {
            let mut val = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
            match a.as_str() {
                "--quick" => {
                    o.sizes = vec![4, 16, 64, 256];
                    o.mb = 64;
                    o.contract_size = 64;
                }
                "--types" => {
                    o.types = val(a)?.chars().filter(|c| *c != ',').collect();
                    if let Some(bad) = o.types.iter().find(|c| !"sdcz".contains(**c)) {
                        return Err(format!("--types: unknown type '{bad}' (use s, d, c, z)"));
                    }
                }
                "--sizes" => o.sizes = list(&val(a)?, "size")?,
                "--mb" => o.mb = val(a)?.parse().map_err(|_| "--mb: not a number")?,
                "--contract-size" => o.contract_size = val(a)?.parse().map_err(|_| "--contract-size: not a number")?,
                "--device" => o.device = val(a)?.parse().map_err(|_| "--device: not a number")?,
                "--out" => o.out = PathBuf::from(val(a)?),
                "--step-timeout" => {
                    o.step_timeout = val(a)?.parse().map_err(|_| "--step-timeout: not a number of seconds")?
                }
                "-h" | "--help" => {
                    println!("{}", gpu::HELP);
                    std::process::exit(0);
                }
                other => return Err(format!("unknown option '{other}'\n\n{}", gpu::HELP)),
            }
        }
        if o.sizes.contains(&0) || o.mb == 0 || o.contract_size == 0 || o.step_timeout == 0 {
            return Err("sizes, --mb, --contract-size and --step-timeout must be positive".into());
        }
        Ok(())
    })();
    if let Err(e) = parsed {
        eprintln!("tensorblas-bench gpu: {e}");
        std::process::exit(2);
    }
    match gpu::run(&o) {
        Ok((md, 0)) => print!("{md}"),
        Ok((md, failed)) => {
            print!("{md}");
            eprintln!("tensorblas-bench gpu: {failed} step(s) failed (see gpu.csv)");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("tensorblas-bench gpu: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn gpu_main(_args: &[String]) {
    eprintln!("tensorblas-bench gpu: built without the `cuda` feature");
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("sweep") => {}
        Some("plot") => return replot(&args[1..]),
        Some("contract") => return contract_main(&args[1..]),
        Some("tucker") => return tucker_main(&args[1..]),
        Some("gpu") => return gpu_main(&args[1..]),
        Some("fft") => return fft_main(&args[1..]),
        Some("-h") | Some("--help") | None => {
            println!("{HELP}");
            return;
        }
        Some(other) => {
            eprintln!("unknown command '{other}'\n\n{HELP}");
            std::process::exit(2);
        }
    }
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{HELP}");
        return;
    }
    let opts = match parse(&args[1..]) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tensorblas-bench sweep: {e}");
            std::process::exit(2);
        }
    };
    if std::env::var_os("OPENBLAS_CORETYPE").is_some() && vendor::vendor_name() == Some("openblas") {
        eprintln!(
            "note: OPENBLAS_CORETYPE={} is set; it changes OpenBLAS' kernels (on Zen 4, Haswell halves small-GEMM speed)",
            std::env::var("OPENBLAS_CORETYPE").unwrap_or_default()
        );
    }
    let (rows, machine) = sweep::run(&opts);
    print!("{}", sweep::table(&rows, &machine));
    match sweep::plot(&rows, &machine, &opts.out) {
        Ok(paths) => {
            for p in paths {
                eprintln!("wrote {}", p.display());
            }
        }
        Err(e) => eprintln!("warning: {e}"),
    }
}
