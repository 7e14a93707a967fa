//! `tensorblas-fft`: the FMM-FFT (or the six-step baseline) of a 1-D `.npy` signal on G
//! in-process devices. See `--help`.

use num_complex::{Complex, Complex64};
use std::path::PathBuf;
use tensorblas_fft::{npy, transform, Algorithm, Plan, PlanSpec, Precision, Report};

const HELP: &str = "\
tensorblas-fft INPUT.npy --out OUTPUT.npy [--inverse] [--sections P] [--devices G]
    [--order Q] [--leaf B] [--algorithm fmm|six-step] [--precision f32|f64]
    [--backend cpu|cuda] [--report REPORT.json]

Reads a 1-D complex64/complex128 .npy (float32/float64 are promoted to complex), computes its DFT
in natural order with numpy.fft conventions (forward unnormalised; --inverse scaled by 1/N) and
writes it (complex64 for f32, complex128 for f64). G devices run as threads of this process
(the in-process fabric; MPI and NCCL fabrics are not built yet). Defaults: precision from the
input type; Q = 16 (f64) / 8 (f32); B = 2Q (halved until N fits); P = the smallest valid multiple of G; G = 1. --report writes bytes and seconds per phase, GEMM flops and GEMM share.
--backend cuda is not supported yet (the FMM-FFT runs its GEMMs on the CPU).";

struct Args {
    input: PathBuf,
    out: PathBuf,
    inverse: bool,
    sections: Option<usize>,
    devices: usize,
    order: Option<usize>,
    leaf: Option<usize>,
    algorithm: Algorithm,
    precision: Option<Precision>,
    report: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    let mut input = None;
    let mut a = Args {
        input: PathBuf::new(),
        out: PathBuf::new(),
        inverse: false,
        sections: None,
        devices: 1,
        order: None,
        leaf: None,
        algorithm: Algorithm::Fmm,
        precision: None,
        report: None,
    };
    let mut out = None;
    while let Some(x) = it.next() {
        let mut val = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        let num = |name: &str, v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("{name}: '{v}' is not a positive integer"))
        };
        match x.as_str() {
            "-h" | "--help" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            "--out" => out = Some(PathBuf::from(val(x)?)),
            "--inverse" => a.inverse = true,
            "--sections" => a.sections = Some(num(x, val(x)?)?),
            "--devices" => a.devices = num(x, val(x)?)?,
            "--order" => a.order = Some(num(x, val(x)?)?),
            "--leaf" => a.leaf = Some(num(x, val(x)?)?),
            "--algorithm" => {
                a.algorithm = match val(x)?.as_str() {
                    "fmm" => Algorithm::Fmm,
                    "six-step" | "sixstep" => Algorithm::SixStep,
                    o => return Err(format!("--algorithm: '{o}' is not fmm or six-step")),
                }
            }
            "--precision" => {
                a.precision = Some(match val(x)?.as_str() {
                    "f32" => Precision::F32,
                    "f64" => Precision::F64,
                    o => return Err(format!("--precision: '{o}' is not f32 or f64")),
                })
            }
            "--backend" => match val(x)?.as_str() {
                "cpu" => {}
                "cuda" => {
                    return Err(
                        "--backend cuda: not supported yet (the FMM-FFT's GPU path is not built; use cpu)".into(),
                    )
                }
                o => return Err(format!("--backend: '{o}' is not cpu or cuda")),
            },
            "--report" => a.report = Some(PathBuf::from(val(x)?)),
            s if s.starts_with('-') => return Err(format!("unknown option '{s}'\n\n{HELP}")),
            s => {
                if input.replace(PathBuf::from(s)).is_some() {
                    return Err("more than one INPUT given".into());
                }
            }
        }
    }
    a.input = input.ok_or(format!("INPUT.npy missing\n\n{HELP}"))?;
    a.out = out.ok_or("--out OUTPUT.npy missing")?;
    Ok(a)
}

fn run(a: &Args) -> Result<(), String> {
    let bytes = std::fs::read(&a.input).map_err(|e| format!("{}: {e}", a.input.display()))?;
    let sig = npy::parse(&bytes).map_err(|e| format!("{}: {e}", a.input.display()))?;
    let precision = a
        .precision
        .unwrap_or(if sig.single { Precision::F32 } else { Precision::F64 });
    let n = sig.data.len();
    // Defaults (PlanSpec::new) for whatever was not given; a given P keeps the first leaf size
    // that fits it. An impossible combination fails in Plan::new, naming the rule.
    let base = PlanSpec::new(n, a.devices, precision).ok();
    let order = a.order.unwrap_or(precision.default_order());
    let sections = a
        .sections
        .or(base.as_ref().map(|b| b.sections))
        .unwrap_or(a.devices.max(2));
    let leaf = a.leaf.unwrap_or_else(|| {
        let d = precision.default_leaf();
        [d, d / 2, 8]
            .into_iter()
            .find(|&b| {
                PlanSpec {
                    n,
                    sections,
                    devices: a.devices,
                    order,
                    leaf: b,
                    precision,
                }
                .check()
                .is_ok()
            })
            .unwrap_or(d)
    });
    let spec = PlanSpec {
        n,
        sections,
        devices: a.devices,
        order,
        leaf,
        precision,
    };
    let plan = Plan::new(&spec).map_err(|e| e.to_string())?;
    let (out, report) = match precision {
        Precision::F64 => transform(&plan, a.algorithm, &sig.data, a.inverse).map_err(|e| e.to_string())?,
        Precision::F32 => {
            let x: Vec<Complex<f32>> = sig
                .data
                .iter()
                .map(|v| Complex::new(v.re as f32, v.im as f32))
                .collect();
            let (y, r) = transform(&plan, a.algorithm, &x, a.inverse).map_err(|e| e.to_string())?;
            (y.iter().map(|v| Complex64::new(v.re as f64, v.im as f64)).collect(), r)
        }
    };
    std::fs::write(&a.out, npy::to_bytes(&out, precision == Precision::F32))
        .map_err(|e| format!("{}: {e}", a.out.display()))?;
    if let Some(path) = &a.report {
        std::fs::write(path, report_json(&plan, a, &report)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    eprintln!(
        "N = {n}, P = {}, G = {}, Q = {}, B = {}, {:?}, {:?}: {:.3} s, {} bytes between devices",
        spec.sections,
        spec.devices,
        spec.order,
        spec.leaf,
        precision,
        a.algorithm,
        report.seconds,
        report.traffic.total()
    );
    Ok(())
}

fn report_json(plan: &Plan, a: &Args, r: &Report) -> String {
    let s = plan.spec();
    let mut steps: Vec<(&str, f64)> = Vec::new();
    for d in &r.devices {
        for (k, v) in &d.seconds {
            match steps.iter_mut().find(|(n, _)| n == k) {
                Some(e) => e.1 = e.1.max(*v),
                None => steps.push((k, *v)),
            }
        }
    }
    let secs = steps
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v:.6e}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{{\n  \"n\": {}, \"sections\": {}, \"devices\": {}, \"order\": {}, \"leaf\": {},\n  \"precision\": \"{:?}\", \"algorithm\": \"{:?}\", \"inverse\": {},\n  \
         \"bytes\": {{\"alltoall\": {}, \"halo\": {}, \"allgather\": {}, \"total\": {}}},\n  \
         \"messages\": {{\"alltoall\": {}, \"halo\": {}, \"allgather\": {}}},\n  \
         \"seconds\": {{\"total\": {:.6e}, {secs}}},\n  \"seconds_note\": \"per step: the maximum over devices\",\n  \
         \"gemm_flops\": {:.6e}, \"gemm_share\": {:.4}\n}}\n",
        s.n,
        s.sections,
        s.devices,
        s.order,
        s.leaf,
        s.precision,
        a.algorithm,
        a.inverse,
        r.traffic.alltoall,
        r.traffic.halo,
        r.traffic.allgather,
        r.traffic.total(),
        r.messages[0],
        r.messages[1],
        r.messages[2],
        r.seconds,
        r.gemm_flops(),
        r.gemm_share()
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        println!("{HELP}");
        std::process::exit(2);
    }
    match parse(&args).and_then(|a| run(&a)) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("tensorblas-fft: {e}");
            std::process::exit(2);
        }
    }
}
