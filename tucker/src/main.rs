//! `tensorblas-tucker`: Tucker decomposition of a `.npy` tensor by HOOI.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use tensorblas::{CpuBackend, Handle};
use tensorblas_tucker::npy::{self, Dtype};
use tensorblas_tucker::{
    rank_descending_order, relative_error, st_hosvd_for_error, tucker, Init, Options, Real, Solver, TensorView,
    TuckerResult,
};

const HELP: &str = "\
tensorblas-tucker INPUT.npy (--ranks R1,R2,...,RN | --target-error EPS) --out DIR
    [--init svd|st-hosvd|random] [--n-iter-max N] [--tol T] [--seed S]
    [--mode-order natural|rank|I,J,...] [--solver subspace|dense|svd] [--backend cpu|cuda]
    [--threads T] [--slab]

Tucker decomposition by HOOI (tensorblas contractions, no unfolding copies) of a float32 or
float64 .npy tensor (C or Fortran order). Writes DIR/core.npy (R1 x ... x RN), DIR/factor_<n>.npy
(I_n x R_n, orthonormal columns), and DIR/summary.json with rec_errors (per sweep), n_iter,
rel_error (explicit ||X - X^|| / ||X||), seconds {init, sweeps, total} and sweep_seconds {passes,
products, exchange, factors} (the sweeps' time by phase; exchange: the MPI sums, gathers and
broadcasts, waits included). Defaults: --init svd,
--n-iter-max 100, --tol 1e-4 (TensorLy's rule; 0 runs exactly --n-iter-max sweeps), --seed 0,
--mode-order natural (modes updated 0, 1, 2, ... as TensorLy does, so the per-sweep errors equal
TensorLy's; `rank` updates the largest relative rank first, a little less work per sweep, or
give the order), --solver subspace (each factor's leading Gram eigenvectors by subspace iteration
from the previous sweep's factor, the dense eigensolver where that converges slowly; dense: always
the dense eigensolver; svd: a thin SVD of each unfolding), --backend cpu (cuda: the GPU path of Tucker is not built yet), --threads:
TBLAS_NUM_THREADS or all cores.

--target-error EPS (instead of --ranks) chooses the ranks as TuckerMPI does: a sequentially
truncated HOSVD, mode by mode 0, 1, ..., keeping the smallest rank whose discarded Gram
eigenvalues sum to at most EPS^2 ||X||^2 / N, so that its relative error is at most EPS; HOOI then
refines it (--n-iter-max 0 keeps the ST-HOSVD). --init does not apply there.

Distributed (a build with the feature mpi, started by `mpirun -np P`): the tensor is split along
mode 0 into P blocks of consecutive rows, one per rank; rank 0 reads INPUT.npy and sends each rank
its block, or with --slab every rank reads its own block from INPUT with {rank} replaced by its
rank (e.g. 'x.{rank}.npy'; blocks in rank order, any number of rows each). Every rank computes
the same factors (its tensor-times-matrix products on its own rows; the small tensors the factors
come from are summed or gathered over MPI); rank 0 writes the outputs, and summary.json gets an
\"mpi\" member with each rank's rows and payload bytes sent (init, per sweep, the per-sweep
closed form, and bytes_solver: all sweeps' factor updates, whose eigensolver each rank runs on
its share of the columns of W's unfolding, the products summed) and sweep_seconds per rank.
--threads defaults to the cores shared among the ranks on a machine. Not available under mpirun:
--target-error, --init st-hosvd, --solver svd with --init svd. Memory: without --slab rank 0
holds the whole tensor twice while scattering; --slab is for tensors that do not fit one process.";

struct Args {
    input: PathBuf,
    ranks: Vec<usize>,
    /// `--target-error`: the ranks are chosen by ST-HOSVD truncation (then `ranks` is empty).
    target_error: Option<f64>,
    out: PathBuf,
    init: String,
    n_iter_max: usize,
    tol: f64,
    seed: u64,
    backend: String,
    threads: Option<usize>,
    mode_order: String,
    solver: String,
    /// `--slab`: under mpirun each rank reads its own block (INPUT with `{rank}`).
    slab: bool,
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut input = None;
    let mut ranks = None;
    let mut out = None;
    let mut init_given = false;
    let mut a = Args {
        input: PathBuf::new(),
        ranks: Vec::new(),
        target_error: None,
        out: PathBuf::new(),
        init: "svd".into(),
        n_iter_max: 100,
        tol: 1e-4,
        seed: 0,
        backend: "cpu".into(),
        threads: None,
        mode_order: "natural".into(),
        solver: "subspace".into(),
        slab: false,
    };
    let mut it = argv.iter();
    while let Some(s) = it.next() {
        let mut val = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match s.as_str() {
            "-h" | "--help" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            "--ranks" => {
                ranks = Some(
                    val(s)?
                        .split(',')
                        .map(|r| {
                            r.trim()
                                .parse::<usize>()
                                .map_err(|_| format!("--ranks: '{r}' is not a rank"))
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
            "--out" => out = Some(PathBuf::from(val(s)?)),
            "--init" => {
                a.init = val(s)?;
                init_given = true;
            }
            "--target-error" => {
                let v = val(s)?;
                let eps: f64 = v
                    .parse()
                    .map_err(|_| format!("--target-error: '{v}' is not a number"))?;
                if !(eps.is_finite() && eps >= 0.0) {
                    return Err(format!("--target-error must be a finite number >= 0, got {v}"));
                }
                a.target_error = Some(eps);
            }
            "--n-iter-max" => a.n_iter_max = val(s)?.parse().map_err(|_| "--n-iter-max: not a number")?,
            "--tol" => a.tol = val(s)?.parse().map_err(|_| "--tol: not a number")?,
            "--seed" => a.seed = val(s)?.parse().map_err(|_| "--seed: not a number")?,
            "--backend" => a.backend = val(s)?,
            "--mode-order" => a.mode_order = val(s)?,
            "--solver" => a.solver = val(s)?,
            "--slab" => a.slab = true,
            "--threads" => a.threads = Some(val(s)?.parse().map_err(|_| "--threads: not a number")?),
            other if other.starts_with("--") => return Err(format!("unknown option '{other}'")),
            other => {
                if input.replace(PathBuf::from(other)).is_some() {
                    return Err("only one INPUT.npy".into());
                }
            }
        }
    }
    a.input = input.ok_or("INPUT.npy is required")?;
    match (ranks, a.target_error) {
        (Some(r), None) => a.ranks = r,
        (None, Some(_)) if init_given => {
            return Err("--init does not apply with --target-error (its ST-HOSVD is the init)".into())
        }
        (None, Some(_)) => a.init = "st-hosvd".into(),
        (Some(_), Some(_)) => return Err("give --ranks or --target-error, not both".into()),
        (None, None) => return Err("--ranks (or --target-error) is required".into()),
    }
    a.out = out.ok_or("--out is required")?;
    if !["svd", "st-hosvd", "random"].contains(&a.init.as_str()) {
        return Err(format!("--init: '{}' is not svd, st-hosvd or random", a.init));
    }
    if !(["natural", "rank"].contains(&a.mode_order.as_str())
        || a.mode_order.split(',').all(|m| m.trim().parse::<usize>().is_ok()))
    {
        return Err(format!(
            "--mode-order: '{}' is not natural, rank or a comma-separated list of modes",
            a.mode_order
        ));
    }
    if !["subspace", "dense", "svd"].contains(&a.solver.as_str()) {
        return Err(format!("--solver: '{}' is not subspace, dense or svd", a.solver));
    }
    if a.tol.is_nan() || a.tol < 0.0 {
        return Err("--tol must be >= 0".into());
    }
    Ok(a)
}

fn json_list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:e}")).collect();
    format!("[{}]", items.join(", "))
}

/// The HOOI options the arguments ask for (`init` and `ranks` decided by the caller).
fn options<T: Real>(a: &Args, shape: &[usize], ranks: &[usize], init: Init<T>) -> Options<T> {
    Options {
        n_iter_max: a.n_iter_max,
        tol: a.tol,
        init,
        mode_order: match a.mode_order.as_str() {
            "natural" => None,
            "rank" => Some(rank_descending_order(shape, ranks)),
            list => Some(
                list.split(',')
                    .map(|m| m.trim().parse().unwrap_or(usize::MAX))
                    .collect(),
            ),
        },
        solver: match a.solver.as_str() {
            "dense" => Solver::GramEigh,
            "svd" => Solver::Svd,
            _ => Solver::GramSubspace,
        },
        ..Options::default()
    }
}

/// `init` as the arguments name it (not `--target-error`'s).
fn named_init<T>(a: &Args) -> Init<T> {
    match a.init.as_str() {
        "svd" => Init::Svd,
        "st-hosvd" => Init::StHosvd,
        _ => Init::Random { seed: a.seed },
    }
}

/// Writes core, factors and summary.json (`extra`: more JSON members, each line ending in a
/// comma) together, and prints the summary.
#[allow(clippy::too_many_arguments)]
fn write_outputs<T: Real>(
    a: &Args,
    dtype: Dtype,
    shape: &[usize],
    ranks: &[usize],
    res: &TuckerResult<T>,
    rel: f64,
    select: f64,
    extra: &str,
) -> Result<(), String> {
    // Every output file appears together with the others, or none does.
    let mut files = tensorblas_npy::Outputs::new();
    let f64s = |v: &[T]| -> Vec<f64> { v.iter().map(|x| x.to_f64()).collect() };
    let mut w = |name: String, shape: &[usize], d: Vec<f64>| -> Result<(), String> {
        files.write(&a.out.join(name), &npy::to_bytes(dtype, shape, false, &d))
    };
    w("core.npy".into(), &res.tucker.core.shape, f64s(&res.tucker.core.data))?;
    for (n, f) in res.tucker.factors.iter().enumerate() {
        w(format!("factor_{n}.npy"), &[f.rows, f.cols], f64s(&f.to_row_major()))?;
    }
    let summary = format!(
        "{{\n  \"shape\": {:?},\n  \"ranks\": {:?},\n  \"target_error\": {},\n  \"dtype\": \"{}\",\n  \"init\": \"{}\",\n  \"n_iter\": {},\n  \"converged\": {},\n  \"rec_errors\": {},\n  \"rel_error\": {:e},\n{extra}  \"seconds\": {{\"init\": {:.6}, \"sweeps\": {:.6}, \"total\": {:.6}}},\n  \"sweep_seconds\": {{\"passes\": {:.6}, \"products\": {:.6}, \"exchange\": {:.6}, \"factors\": {:.6}}}\n}}\n",
        shape,
        ranks,
        a.target_error.map_or("null".into(), |e| format!("{e:e}")),
        if dtype == Dtype::F64 { "float64" } else { "float32" },
        a.init,
        res.n_iter,
        res.converged,
        json_list(&res.rec_errors),
        rel,
        select + res.timings.init,
        res.timings.sweeps,
        select + res.timings.total,
        res.timings.passes,
        res.timings.products,
        res.timings.exchange,
        res.timings.factors
    );
    files.write(&a.out.join("summary.json"), summary.as_bytes())?;
    files.commit()?;
    print!("{summary}");
    Ok(())
}

/// A `.npy` array's data as a tensor view (C or Fortran order).
fn view<'a, T: Real>(data: &'a [T], shape: &[usize], fortran: bool) -> Result<TensorView<'a, T>, String> {
    if fortran {
        TensorView::f_order(data, shape)
    } else {
        TensorView::c_order(data, shape)
    }
    .map_err(|e| e.to_string())
}

fn run<T: Real>(h: &Handle, a: &Args, data: &[T], shape: &[usize], fortran: bool, dtype: Dtype) -> Result<(), String> {
    let x = view(data, shape, fortran)?;
    let t0 = std::time::Instant::now();
    let (ranks, init) = match a.target_error {
        Some(eps) => {
            let (ranks, t) = st_hosvd_for_error(h, &x, eps).map_err(|e| e.to_string())?;
            (ranks, Init::Tucker(t))
        }
        None => (a.ranks.clone(), named_init(a)),
    };
    let opts = options(a, shape, &ranks, init);
    // With --target-error the ST-HOSVD that chose the ranks is the init: its time counts there.
    let select = t0.elapsed().as_secs_f64();
    let res: TuckerResult<T> = tucker(h, &x, &ranks, &opts).map_err(|e| e.to_string())?;
    let modes: Vec<usize> = (0..shape.len()).collect();
    let rel = relative_error(h, &x, &res.tucker, &modes).map_err(|e| e.to_string())?;
    write_outputs(a, dtype, shape, &ranks, &res, rel, select, "")
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    #[cfg(feature = "mpi")]
    let universe = mpi::initialize();
    #[cfg(feature = "mpi")]
    let world = universe
        .as_ref()
        .map(|u| u.world())
        .filter(|w| mpi::traits::Communicator::size(w) > 1);
    // Under mpirun only rank 0 prints help and errors (every rank finds the same ones).
    #[cfg(feature = "mpi")]
    let speak = world.as_ref().is_none_or(|w| mpi::traits::Communicator::rank(w) == 0);
    #[cfg(not(feature = "mpi"))]
    let speak = true;
    if argv.is_empty() {
        if speak {
            println!("{HELP}");
        }
        std::process::exit(2);
    }
    let fail = |e: String| -> ! {
        if speak {
            eprintln!("tensorblas-tucker: {e}");
        }
        std::process::exit(2)
    };
    let a = parse(&argv).unwrap_or_else(|e| fail(format!("{e}\n\n{HELP}")));
    let h = match a.backend.as_str() {
        "cpu" => Handle::with_backend(CpuBackend::Auto).unwrap_or_else(|e| fail(e.to_string())),
        "cuda" => match Handle::cuda(0) {
            Err(e) => fail(format!("--backend cuda: no usable GPU here: {e}")),
            Ok(g) => fail(format!(
                "--backend cuda: a GPU is present ({}), but tensorblas-tucker's GPU path is not built yet; use \
                 --backend cpu",
                g.device_name().unwrap_or_default()
            )),
        },
        other => fail(format!("--backend: '{other}' is not cpu or cuda")),
    };
    if let Some(t) = a.threads {
        if t == 0 {
            fail("--threads must be >= 1".into());
        }
        h.set_num_threads(t);
    }
    #[cfg(feature = "mpi")]
    if let Some(w) = &world {
        let code = match mpi_run::run(&h, &a, w) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("tensorblas-tucker: {e}");
                2
            }
        };
        drop(world);
        drop(universe);
        std::process::exit(code);
    }
    if a.slab {
        fail("--slab applies under mpirun with more than one rank (and a build with the feature mpi)".into());
    }
    // The output folder is made and checked before any work.
    std::fs::create_dir_all(&a.out).unwrap_or_else(|e| fail(format!("cannot create {}: {e}", a.out.display())));
    tensorblas_npy::Outputs::check([a.out.join("summary.json").as_path()]).unwrap_or_else(|e| fail(e));
    let arr = npy::read(&a.input).unwrap_or_else(|e| fail(format!("{}: {e}", a.input.display())));
    if a.target_error.is_none() && arr.shape.len() != a.ranks.len() {
        fail(format!(
            "--ranks has {} entries but {} has {} modes {:?}",
            a.ranks.len(),
            a.input.display(),
            arr.shape.len(),
            arr.shape
        ));
    }
    let r = match arr.dtype {
        Dtype::F64 => run(&h, &a, &arr.f64, &arr.shape, arr.fortran_order, Dtype::F64),
        Dtype::F32 => run(&h, &a, &arr.f32, &arr.shape, arr.fortran_order, Dtype::F32),
    };
    if let Err(e) = r {
        fail(e);
    }
}

/// The CLI under `mpirun -np P` (feature `mpi`, P > 1): the tensor distributed along mode 0.
#[cfg(feature = "mpi")]
mod mpi_run {
    use super::{named_init, options, view, write_outputs, Args};
    use mpi::topology::SimpleCommunicator;
    use mpi::traits::*;
    use tensorblas::Handle;
    use tensorblas_tucker::mpi::{relative_error_mpi, scatter_rows, tucker_mpi};
    use tensorblas_tucker::npy::{self, Dtype};
    use tensorblas_tucker::{Real, TensorView};

    /// Whether every rank says `ok` (and every rank learns it).
    fn all_ok(w: &SimpleCommunicator, ok: bool) -> bool {
        let mut out = 0u8;
        w.all_reduce_into(&u8::from(ok), &mut out, mpi::collective::SystemOperation::min());
        out == 1
    }

    /// Errors before the decomposition end every rank with status 2 (printed by the rank that
    /// found them, or by rank 0 when all found the same); a failure inside MPI aborts the job.
    pub(super) fn run(h: &Handle, a: &Args, w: &SimpleCommunicator) -> Result<(), String> {
        let me = w.rank();
        let quiet = |e: String| if me == 0 { e } else { String::new() };
        if a.threads.is_none() {
            // The cores of this machine shared among its ranks (as the FFT's CLI does).
            let local = w.split_shared(0).size().max(1) as usize;
            h.set_num_threads((std::thread::available_parallelism().map_or(1, |n| n.get()) / local).max(1));
        }
        if a.target_error.is_some() {
            return Err(quiet(
                "--target-error is not available under mpirun (its ST-HOSVD needs the whole tensor on one rank): give --ranks".into(),
            ));
        }
        if a.init == "st-hosvd" {
            return Err(quiet(
                "--init st-hosvd is not available under mpirun: use svd or random".into(),
            ));
        }
        if a.solver == "svd" && a.init == "svd" {
            return Err(quiet(
                "--solver svd with --init svd is not available under mpirun: use subspace or dense".into(),
            ));
        }
        // The output folder (rank 0 writes) is made and checked before any work.
        let mut err = String::new();
        if me == 0 {
            if let Err(e) = std::fs::create_dir_all(&a.out) {
                err = format!("cannot create {}: {e}", a.out.display());
            } else if let Err(e) = tensorblas_npy::Outputs::check([a.out.join("summary.json").as_path()]) {
                err = e;
            }
        }
        // Rank 0 reads INPUT, or (--slab) every rank reads its own block.
        let input = if a.slab {
            let p = a.input.to_string_lossy().replace("{rank}", &me.to_string());
            Some(p)
        } else {
            (me == 0).then(|| a.input.to_string_lossy().into_owned())
        };
        let arr = match (&input, err.is_empty()) {
            (Some(p), true) => match npy::read(std::path::Path::new(p)) {
                Ok(arr) => Some(arr),
                Err(e) => {
                    err = format!("rank {me}: {p}: {e}");
                    None
                }
            },
            _ => None,
        };
        if !all_ok(w, err.is_empty()) {
            return Err(err);
        }
        // One element type on every rank.
        let f32s = arr.as_ref().map_or(0u8, |x| u8::from(x.dtype == Dtype::F32));
        let mut types = vec![0u8; w.size() as usize];
        w.all_gather_into(&f32s, &mut types[..]);
        // (Without --slab only rank 0 read: its type is the type.)
        if a.slab && types.iter().any(|&t| t != types[0]) {
            return Err(quiet(format!(
                "--slab: the ranks' blocks mix float32 and float64: {types:?} (1 = float32)"
            )));
        }
        match (types[0], arr) {
            (1, arr) => typed::<f32>(h, a, w, arr.map(|x| (x.f32, x.shape, x.fortran_order)), Dtype::F32),
            (_, arr) => typed::<f64>(h, a, w, arr.map(|x| (x.f64, x.shape, x.fortran_order)), Dtype::F64),
        }
    }

    fn typed<T: Real + mpi::datatype::Equivalence>(
        h: &Handle,
        a: &Args,
        w: &SimpleCommunicator,
        arr: Option<(Vec<T>, Vec<usize>, bool)>,
        dtype: Dtype,
    ) -> Result<(), String> {
        let me = w.rank();
        let quiet = |e: String| if me == 0 { e } else { String::new() };
        // This rank's block: its own file (--slab), or its rows of rank 0's tensor.
        let scattered;
        let local = if a.slab {
            let (d, s, f) = arr.as_ref().expect("every rank read its block");
            view(d, s, *f).map_err(|e| format!("rank {me}: {e}"))?
        } else {
            let whole = arr.as_ref().map(|(d, s, f)| view(d, s, *f)).transpose()?;
            scattered = scatter_rows(w, whole.as_ref()).map_err(|e| quiet(e.to_string()))?;
            TensorView::c_order(&scattered.0, &scattered.1).map_err(|e| e.to_string())?
        };
        let mut gshape = local.shape().to_vec();
        let mut rows = 0u64;
        w.all_reduce_into(&(gshape[0] as u64), &mut rows, mpi::collective::SystemOperation::sum());
        gshape[0] = rows as usize;
        // (tucker_mpi checks the orders of all blocks and --ranks against them, on every rank
        // alike, before its first collective that depends on them.)
        let opts = options(a, &gshape, &a.ranks, named_init(a));
        let t = tucker_mpi(h, w, &local, &a.ranks, &opts).map_err(|e| quiet(e.to_string()))?;
        let rel = relative_error_mpi(h, w, &local, &t).map_err(|e| quiet(e.to_string()))?;
        // Every rank's rows and bytes, for the summary.
        let mine = [
            t.rows.0 as u64,
            t.rows.1 as u64,
            t.bytes_init,
            t.bytes_per_sweep,
            t.bytes_per_sweep_closed_form,
            t.bytes_solver,
        ];
        let mut all = vec![0u64; 6 * t.members];
        w.all_gather_into(&mine[..], &mut all[..]);
        // And every rank's sweep phases (one rank's exchange is its waits for the others).
        let tm = &t.result.timings;
        let phases = [tm.passes, tm.products, tm.exchange, tm.factors];
        let mut all_phases = vec![0.0f64; 4 * t.members];
        w.all_gather_into(&phases[..], &mut all_phases[..]);
        if me != 0 {
            return Ok(());
        }
        let col = |k: usize| -> String {
            let v: Vec<String> = all.chunks(6).map(|c| c[k].to_string()).collect();
            format!("[{}]", v.join(", "))
        };
        let phase = |k: usize| -> String {
            let v: Vec<String> = all_phases.chunks(4).map(|c| format!("{:.6}", c[k])).collect();
            format!("[{}]", v.join(", "))
        };
        let extra = format!(
            "  \"mpi\": {{\"ranks\": {}, \"row_start\": {}, \"rows\": {}, \"bytes_init\": {}, \"bytes_per_sweep\": {}, \"bytes_per_sweep_closed_form\": {}, \"bytes_solver\": {}, \"sweep_seconds\": {{\"passes\": {}, \"products\": {}, \"exchange\": {}, \"factors\": {}}}}},\n",
            t.members,
            col(0),
            col(1),
            col(2),
            col(3),
            col(4),
            col(5),
            phase(0),
            phase(1),
            phase(2),
            phase(3)
        );
        write_outputs(a, dtype, &t.shape, &a.ranks, &t.result, rel, 0.0, &extra)
    }
}
