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
    [--threads T]

Tucker decomposition by HOOI (tensorblas contractions, no unfolding copies) of a float32 or
float64 .npy tensor (C or Fortran order). Writes DIR/core.npy (R1 x ... x RN), DIR/factor_<n>.npy
(I_n x R_n, orthonormal columns), and DIR/summary.json with rec_errors (per sweep), n_iter,
rel_error (explicit ||X - X^|| / ||X||) and seconds {init, sweeps, total}. Defaults: --init svd,
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
refines it (--n-iter-max 0 keeps the ST-HOSVD). --init does not apply there.";

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

fn run<T: Real>(h: &Handle, a: &Args, data: &[T], shape: &[usize], fortran: bool, dtype: Dtype) -> Result<(), String> {
    let x = if fortran {
        TensorView::f_order(data, shape)
    } else {
        TensorView::c_order(data, shape)
    }
    .map_err(|e| e.to_string())?;
    let t0 = std::time::Instant::now();
    let (ranks, init) = match a.target_error {
        Some(eps) => {
            let (ranks, t) = st_hosvd_for_error(h, &x, eps).map_err(|e| e.to_string())?;
            (ranks, Init::Tucker(t))
        }
        None => (
            a.ranks.clone(),
            match a.init.as_str() {
                "svd" => Init::Svd,
                "st-hosvd" => Init::StHosvd,
                _ => Init::Random { seed: a.seed },
            },
        ),
    };
    let opts = Options {
        n_iter_max: a.n_iter_max,
        tol: a.tol,
        init,
        mode_order: match a.mode_order.as_str() {
            "natural" => None,
            "rank" => Some(rank_descending_order(shape, &ranks)),
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
    };
    // With --target-error the ST-HOSVD that chose the ranks is the init: its time counts there.
    let select = t0.elapsed().as_secs_f64();
    let res: TuckerResult<T> = tucker(h, &x, &ranks, &opts).map_err(|e| e.to_string())?;
    let modes: Vec<usize> = (0..shape.len()).collect();
    let rel = relative_error(h, &x, &res.tucker, &modes).map_err(|e| e.to_string())?;
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
        "{{\n  \"shape\": {:?},\n  \"ranks\": {:?},\n  \"target_error\": {},\n  \"dtype\": \"{}\",\n  \"init\": \"{}\",\n  \"n_iter\": {},\n  \"converged\": {},\n  \"rec_errors\": {},\n  \"rel_error\": {:e},\n  \"seconds\": {{\"init\": {:.6}, \"sweeps\": {:.6}, \"total\": {:.6}}}\n}}\n",
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
        select + res.timings.total
    );
    files.write(&a.out.join("summary.json"), summary.as_bytes())?;
    files.commit()?;
    print!("{summary}");
    Ok(())
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        println!("{HELP}");
        std::process::exit(2);
    }
    let fail = |e: String| -> ! {
        eprintln!("tensorblas-tucker: {e}");
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
