//! `tensorblas-fft`: the FMM-FFT (or the six-step baseline) of a 1-D `.npy` signal on G
//! in-process devices, or (feature `mpi`, under `mpirun -np G`) on G MPI ranks. See `--help`.

use num_complex::{Complex, Complex64};
use std::path::PathBuf;
use tensorblas_fft::{
    npy, threads_per_device, transform_into_with, Algorithm, Plan, PlanSpec, Precision, Report, Workspace,
};

const HELP: &str = "\
tensorblas-fft INPUT.npy --out OUTPUT.npy [--inverse] [--sections P] [--devices G]
    [--order Q] [--leaf B] [--algorithm fmm|six-step] [--precision f32|f64]
    [--backend cpu|cuda] [--report REPORT.json] [--repeat R]

Reads a 1-D complex64/complex128 .npy (float32/float64 are promoted to complex), computes its DFT
in natural order with numpy.fft conventions (forward unnormalised; --inverse scaled by 1/N) and
writes it (complex64 for f32, complex128 for f64). G devices run as threads of this process
(the in-process fabric). Built with the feature `mpi` and started by `mpirun -np G`, each rank
is one device (the MPI fabric): rank 0 reads INPUT, scatters the blocks, gathers the result
and writes OUTPUT and the report; --devices, if given, must equal the number of ranks.
Defaults: precision from the input type; Q = 16 (f64) / 8 (f32); B = 2Q (halved until N fits);
P = the smallest valid multiple of G; G = 1 (or the number of MPI ranks).
Which lengths use the FMM: N = P·B·2^L (P sections, a multiple of the G devices, G a power of
two; leaf B = 2Q, Q or 8; L >= 0), e.g. every power of two from 64, 96, 3·4096. Any other
N (1000, 8, a prime such as 65537) runs on one device with rustfft (mixed radix, Bluestein for
large prime factors), and the report and stderr say so; with --sections, --devices, --order,
--leaf, --algorithm or --backend given, such an N is an error naming the rule instead. --report writes bytes
and seconds per phase, GEMM flops and GEMM share. OUTPUT and REPORT are checked before the
transform (their folders must exist) and appear together, or neither does. --repeat R runs the
transform R times (default 1) with the same plan, handle and work arrays, prints each run's
seconds, and reports the last: the first run includes one-time costs (work arrays; on the GPU
the kernels' NVRTC compilation, cuBLAS and cuFFT plans). --backend cuda (FMM only, in-process
only) runs the G devices as G partitions of GPU 0: level arrays in device memory, GEMMs on
cuBLAS, the final FFTs on cuFFT, messages staged through host memory (no NCCL fabric yet); it
needs the NVIDIA driver, cuBLAS, NVRTC and cuFFT (libcufft). Checked on an NVIDIA H200
(benches/results/gpu-nvidia-h200.md): N = 2^20 f64 on 4 partitions agrees with numpy.fft to
1.4e-14.";

struct Args {
    input: PathBuf,
    out: PathBuf,
    inverse: bool,
    sections: Option<usize>,
    devices: Option<usize>,
    order: Option<usize>,
    leaf: Option<usize>,
    algorithm: Algorithm,
    precision: Option<Precision>,
    report: Option<PathBuf>,
    cuda: bool,
    /// Transforms to run (the last is reported).
    repeat: usize,
    /// --sections, --devices, --order, --leaf, --algorithm or --backend given: the plan is the
    /// user's, and a length the FMM cannot plan is an error instead of a fallback.
    pinned: bool,
}

/// The arguments, or None for --help.
fn parse(args: &[String]) -> Result<Option<Args>, String> {
    let mut it = args.iter();
    let mut input = None;
    let mut a = Args {
        input: PathBuf::new(),
        out: PathBuf::new(),
        inverse: false,
        sections: None,
        devices: None,
        order: None,
        leaf: None,
        algorithm: Algorithm::Fmm,
        precision: None,
        report: None,
        cuda: false,
        repeat: 1,
        pinned: false,
    };
    let mut out = None;
    while let Some(x) = it.next() {
        let mut val = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        let num = |name: &str, v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("{name}: '{v}' is not a positive integer"))
        };
        if matches!(
            x.as_str(),
            "--sections" | "--devices" | "--order" | "--leaf" | "--algorithm" | "--backend"
        ) {
            a.pinned = true;
        }
        match x.as_str() {
            "-h" | "--help" => {
                return Ok(None);
            }
            "--out" => out = Some(PathBuf::from(val(x)?)),
            "--inverse" => a.inverse = true,
            "--sections" => a.sections = Some(num(x, val(x)?)?),
            "--devices" => a.devices = Some(num(x, val(x)?)?),
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
                "cpu" => a.cuda = false,
                "cuda" => a.cuda = true,
                o => return Err(format!("--backend: '{o}' is not cpu or cuda")),
            },
            "--report" => a.report = Some(PathBuf::from(val(x)?)),
            "--repeat" => {
                let v = val(x)?;
                a.repeat = match v.parse::<usize>() {
                    Ok(r) if (1..=1000).contains(&r) => r,
                    _ => return Err(format!("--repeat: '{v}' is not a count from 1 to 1000")),
                };
            }
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
    Ok(Some(a))
}

/// Reads INPUT: the signal (complex128) and its precision (the one asked for, else the file's).
/// Also checks, before any work, that OUTPUT and REPORT can be written (their folders exist).
fn load(a: &Args) -> Result<(Vec<Complex64>, Precision), String> {
    tensorblas_npy::Outputs::check(std::iter::once(a.out.as_path()).chain(a.report.as_deref()))?;
    let bytes = std::fs::read(&a.input).map_err(|e| format!("{}: {e}", a.input.display()))?;
    let sig = npy::parse(&bytes).map_err(|e| format!("{}: {e}", a.input.display()))?;
    let precision = a
        .precision
        .unwrap_or(if sig.single { Precision::F32 } else { Precision::F64 });
    Ok((sig.data, precision))
}

/// The plan for N points on G devices: defaults (PlanSpec::new) for whatever was not given; a
/// given P keeps the first leaf size that fits it. An impossible combination fails in Plan::new,
/// naming the rule.
fn make_plan(a: &Args, n: usize, devices: usize, precision: Precision) -> Result<Plan, String> {
    let base = PlanSpec::new(n, devices, precision).ok();
    let order = a.order.unwrap_or(precision.default_order());
    let sections = a
        .sections
        .or(base.as_ref().map(|b| b.sections))
        .unwrap_or(devices.max(2));
    let spec = |leaf| PlanSpec {
        n,
        sections,
        devices,
        order,
        leaf,
        precision,
    };
    let leaf = a.leaf.unwrap_or_else(|| {
        let d = precision.default_leaf();
        [d, d / 2, 8]
            .into_iter()
            .find(|&b| spec(b).check().is_ok())
            .unwrap_or(d)
    });
    Plan::new(&spec(leaf)).map_err(|e| e.to_string())
}

fn to_f32(x: &[Complex64]) -> Vec<Complex<f32>> {
    x.iter().map(|v| Complex::new(v.re as f32, v.im as f32)).collect()
}

fn to_f64(x: &[Complex<f32>]) -> Vec<Complex64> {
    x.iter().map(|v| Complex64::new(v.re as f64, v.im as f64)).collect()
}

/// Writes OUTPUT and the report, and says what ran.
fn finish(a: &Args, plan: &Plan, out: &[Complex64], report: &Report, fabric: &str) -> Result<(), String> {
    let spec = plan.spec();
    // OUTPUT and REPORT appear together or not at all.
    let mut files = tensorblas_npy::Outputs::new();
    files.write(&a.out, &npy::to_bytes(out, spec.precision == Precision::F32))?;
    if let Some(path) = &a.report {
        files.write(path, report_json(plan, a, report, fabric).as_bytes())?;
    }
    files.commit()?;
    eprintln!(
        "N = {}, P = {}, G = {} ({fabric}), Q = {}, B = {}, {:?}, {:?}: {:.3} s, {} bytes between devices",
        spec.n,
        spec.sections,
        spec.devices,
        spec.order,
        spec.leaf,
        spec.precision,
        a.algorithm,
        report.seconds,
        report.traffic.total()
    );
    Ok(())
}

fn run(a: &Args) -> Result<(), String> {
    let (x, precision) = load(a)?;
    let plan = match make_plan(a, x.len(), a.devices.unwrap_or(1), precision) {
        Ok(p) => p,
        Err(why) if !a.pinned => return single_device(a, &x, precision, &why),
        Err(why) => return Err(why),
    };
    let (h, fabric) = if a.cuda {
        if a.algorithm != Algorithm::Fmm {
            return Err(
                "--backend cuda: only --algorithm fmm runs on the GPU (the six-step's GPU path is not built)".into(),
            );
        }
        let h = tensorblas::Handle::cuda(0).map_err(|e| format!("--backend cuda: {e}"))?;
        (h, "GPU partitions")
    } else {
        let h = tensorblas::Handle::new().map_err(|e| e.to_string())?;
        h.set_num_threads(threads_per_device(&plan));
        (h, "in-process")
    };
    let (out, report) = match precision {
        Precision::F64 => repeat(a, &plan, &x, &h)?,
        Precision::F32 => {
            let (y, r) = repeat(a, &plan, &to_f32(&x), &h)?;
            (to_f64(&y), r)
        }
    };
    if let Some(rt) = h.cuda_runtime() {
        // Which driver, cuBLAS, NVRTC and cuFFT files this run used (two CUDA installs can mix).
        eprintln!("CUDA: {rt}");
    }
    finish(a, &plan, &out, &report, fabric)
}

/// Runs the transform `a.repeat` times with one plan, handle and workspace (each run's seconds
/// on stderr when there is more than one): the output and the last run's report.
fn repeat<T: tensorblas_fft::Real>(
    a: &Args,
    plan: &Plan,
    x: &[Complex<T>],
    h: &tensorblas::Handle,
) -> Result<(Vec<Complex<T>>, Report), String> {
    let mut ws = Workspace::new();
    let zero = <T as tensorblas::Scalar>::zero();
    let mut y = vec![Complex::new(zero, zero); x.len()];
    let mut last = None;
    for i in 0..a.repeat {
        let r = transform_into_with(plan, a.algorithm, x, &mut y, a.inverse, h, &mut ws).map_err(|e| e.to_string())?;
        if a.repeat > 1 {
            eprintln!("run {}/{}: {:.6} s", i + 1, a.repeat, r.seconds);
        }
        last = Some(r);
    }
    Ok((y, last.ok_or("--repeat: no transform ran")?))
}

/// A length the FMM cannot plan (and no plan option given): the whole transform on one device
/// with rustfft (mixed radix; Bluestein for large prime factors), numpy's conventions, and a
/// report that says so.
fn single_device(a: &Args, x: &[Complex64], precision: Precision, why: &str) -> Result<(), String> {
    let n = x.len();
    let t = std::time::Instant::now();
    let mut y = x.to_vec();
    if n > 0 {
        let fft = if a.inverse {
            tensorblas_fft::plans::inverse_f64(n)
        } else {
            tensorblas_fft::plans::forward_f64(n)
        };
        fft.process(&mut y);
        if a.inverse {
            let s = 1.0 / n as f64;
            y.iter_mut().for_each(|v| *v *= s);
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let mut files = tensorblas_npy::Outputs::new();
    files.write(&a.out, &npy::to_bytes(&y, precision == Precision::F32))?;
    if let Some(path) = &a.report {
        let why_json = why.replace('\\', "\\\\").replace('"', "\\\"");
        let json = format!(
            "{{\n  \"n\": {n}, \"devices\": 1, \"fabric\": \"none\", \"precision\": \"{precision:?}\", \
             \"algorithm\": \"rustfft\", \"inverse\": {},\n  \"fallback\": \"the FMM cannot plan this length: {why_json}\",\n  \
             \"bytes\": {{\"total\": 0}},\n  \"seconds\": {{\"total\": {secs:.6e}}}\n}}\n",
            a.inverse
        );
        files.write(path, json.as_bytes())?;
    }
    files.commit()?;
    eprintln!("N = {n}: the FMM cannot plan this length ({why}); ran rustfft on one device instead: {secs:.3} s");
    Ok(())
}

/// Under `mpirun` with more than one rank: rank 0 reads, scatters, gathers and writes. Errors
/// found before the transform (arguments, INPUT, the plan) end every rank with status 2, printed
/// once by rank 0; a failure inside the transform aborts the job.
#[cfg(feature = "mpi")]
fn run_mpi(a: &Args, fab: &tensorblas_fft::mpi::Mpi) -> Result<(), String> {
    use mpi::traits::*;
    use tensorblas_fft::mpi::transform_root;
    let ranks = fab.size_of_world();
    if a.cuda {
        return Err("--backend cuda: not supported under mpirun yet (run the GPU path in-process)".into());
    }
    if let Some(g) = a.devices.filter(|&g| g != ranks) {
        return Err(format!(
            "--devices {g}: under mpirun each rank is one device, and there are {ranks} ranks"
        ));
    }
    let root = fab.comm().process_at_rank(0);
    // Rank 0 reads; [ok, N, f32?] goes to every rank so that all build the same plan.
    let (mut x, mut head, mut err) = (Vec::new(), [0u64; 3], String::new());
    if fab.is_root() {
        match load(a) {
            Ok((data, p)) => {
                head = [1, data.len() as u64, u64::from(p == Precision::F32)];
                x = data;
            }
            Err(e) => err = e,
        }
    }
    root.broadcast_into(&mut head[..]);
    if head[0] == 0 {
        return Err(err);
    }
    let precision = if head[2] == 1 { Precision::F32 } else { Precision::F64 };
    let plan = make_plan(a, head[1] as usize, ranks, precision)?;
    let threads = {
        let local = fab.comm().split_shared(0).size().max(1) as usize;
        (std::thread::available_parallelism().map_or(1, |n| n.get()) / local).max(1)
    };
    let run = |x: &[Complex64]| -> Result<Option<tensorblas_fft::mpi::Gathered<f64>>, tensorblas_fft::FftError> {
        let on_root = fab.is_root();
        Ok(match precision {
            Precision::F64 => transform_root(fab, &plan, a.algorithm, on_root.then_some(x), a.inverse, threads)?,
            Precision::F32 => {
                let x32 = to_f32(x);
                transform_root(fab, &plan, a.algorithm, on_root.then_some(&x32[..]), a.inverse, threads)?
                    .map(|(y, r)| (to_f64(&y), r))
            }
        })
    };
    match run(&x) {
        Ok(Some((out, report))) => finish(a, &plan, &out, &report, "MPI"),
        Ok(None) => Ok(()),
        Err(e) => {
            eprintln!("tensorblas-fft: rank {}: {e}", fab.comm().rank());
            fab.abort(3)
        }
    }
}

fn report_json(plan: &Plan, a: &Args, r: &Report, fabric: &str) -> String {
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
        "{{\n  \"n\": {}, \"sections\": {}, \"devices\": {}, \"fabric\": \"{fabric}\", \"order\": {}, \"leaf\": {},\n  \"precision\": \"{:?}\", \"algorithm\": \"{:?}\", \"inverse\": {},\n  \
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
    #[cfg(feature = "mpi")]
    let universe = mpi::initialize();
    #[cfg(feature = "mpi")]
    let fab = universe
        .as_ref()
        .map(|u| tensorblas_fft::mpi::Mpi::new(mpi::traits::Communicator::duplicate(&u.world())))
        .filter(|f| f.size_of_world() > 1);
    #[cfg(not(feature = "mpi"))]
    let fab: Option<()> = None;
    // Under mpirun only rank 0 prints help and errors (every rank finds the same ones).
    let speak = fab.as_ref().is_none_or(is_root);
    // Err(None): exit with status 2, nothing more to say.
    let result: Result<(), Option<String>> = if args.is_empty() {
        if speak {
            println!("{HELP}");
        }
        Err(None)
    } else {
        parse(&args)
            .and_then(|a| match (a, &fab) {
                (None, _) => {
                    if speak {
                        println!("{HELP}");
                    }
                    Ok(())
                }
                #[cfg(feature = "mpi")]
                (Some(a), Some(f)) => run_mpi(&a, f),
                (Some(a), _) => run(&a),
            })
            .map_err(Some)
    };
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            if let Some(e) = e.filter(|_| speak) {
                eprintln!("tensorblas-fft: {e}");
            }
            2
        }
    };
    // MPI_Finalize (dropping the universe, after the communicator) before exiting.
    #[cfg(feature = "mpi")]
    {
        drop(fab);
        drop(universe);
    }
    std::process::exit(code);
}

#[cfg(feature = "mpi")]
fn is_root(f: &tensorblas_fft::mpi::Mpi) -> bool {
    f.is_root()
}

#[cfg(not(feature = "mpi"))]
fn is_root(_: &()) -> bool {
    true
}
