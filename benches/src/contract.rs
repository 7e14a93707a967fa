//! `tensorblas-bench contract`: the 36 single-index contractions C_mnp = A(2-way) B(3-way) of
//! `docs/contraction.md`, each timed three ways in one run on the same buffers: tensorblas' planned
//! contraction (`Handle::einsum`, no copies), the explicit transpose-then-GEMM approach (permute
//! the operands into a GEMM layout, one GEMM, permute the result; the copies timed with it,
//! scratch allocated once outside the timing), and one flat GEMM of equal flops. Optionally
//! every candidate plan of the cost model (`--candidates`) and the planning overhead
//! (`--overhead`).

use crate::sweep::time;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tensorblas::{CpuBackend, Handle, Op, Plan, Scalar, Shape, TensorMut, TensorRef};

/// Options of the contract subcommand.
pub struct Opts {
    pub types: Vec<char>,
    pub sizes: Vec<usize>,
    pub backend: CpuBackend,
    pub threads: usize,
    pub samples: usize,
    pub min_sample: Duration,
    pub candidates: bool,
    pub overhead: bool,
    pub out: PathBuf,
}

/// One measurement.
#[derive(Clone, Debug)]
pub struct Row {
    pub case: String,
    pub spec: String,
    pub ty: char,
    pub t: usize,
    pub variant: String,
    pub plan: String,
    pub median_ns: f64,
    pub min_ns: f64,
    pub gflops: f64,
}

/// The 36 cases in the order of `contraction-cases.txt`: (name, A modes, B modes).
pub fn cases() -> Vec<(String, String, String)> {
    let mut v = Vec::new();
    for (g, a) in ["mk", "km", "nk", "kn", "pk", "kp"].iter().enumerate() {
        let free = a.chars().find(|&c| c != 'k').unwrap();
        let others: Vec<char> = "mnp".chars().filter(|&c| c != free).collect();
        let (x, y) = (others[0], others[1]);
        let bs = [
            format!("k{x}{y}"),
            format!("k{y}{x}"),
            format!("{x}k{y}"),
            format!("{y}k{x}"),
            format!("{x}{y}k"),
            format!("{y}{x}k"),
        ];
        for (i, b) in bs.into_iter().enumerate() {
            v.push((format!("{}.{}", g + 1, i + 1), a.to_string(), b));
        }
    }
    v
}

/// Copies the packed column-major tensor `src` (modes `from`, extents `ext_of`) into `dst`,
/// packed column-major in the mode order `to`.
fn permute<T: Copy>(src: &[T], from: &str, to: &str, ext_of: impl Fn(char) -> usize, dst: &mut [T]) {
    let from: Vec<char> = from.chars().collect();
    let to: Vec<char> = to.chars().collect();
    let mut sstride = std::collections::HashMap::new();
    let mut s = 1;
    for &c in &from {
        sstride.insert(c, s);
        s *= ext_of(c);
    }
    let ext: Vec<usize> = to.iter().map(|&c| ext_of(c)).collect();
    let st: Vec<usize> = to.iter().map(|c| sstride[c]).collect();
    let inner = ext[0];
    let s0 = st[0];
    let mut idx = vec![0usize; to.len()];
    let mut o = 0;
    let total: usize = ext.iter().product();
    while o < total {
        let base: usize = idx.iter().zip(&st).skip(1).map(|(i, s)| i * s).sum();
        for i in 0..inner {
            dst[o + i] = src[base + i * s0];
        }
        o += inner;
        for d in 1..to.len() {
            idx[d] += 1;
            if idx[d] < ext[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// Transpose-then-GEMM for `C_mnp = A_{am} B_{bm}`: A into (free, k), B into (k, B's free modes
/// in C's order), one GEMM, and the product permuted into C when its mode order differs.
struct Ttgt<T> {
    a2: Vec<T>,
    b2: Vec<T>,
    d: Vec<T>,
}

impl<T: Scalar> Ttgt<T> {
    fn new(t: usize) -> Self {
        Ttgt {
            a2: vec![T::zero(); t * t],
            b2: vec![T::zero(); t * t * t],
            d: vec![T::zero(); t * t * t],
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run(&mut self, h: &Handle, am: &str, bm: &str, t: usize, a: &[T], b: &[T], c: &mut [T]) {
        let ext = |_: char| t;
        let free_a = am.chars().find(|&x| x != 'k').unwrap();
        let free_b: String = "mnp".chars().filter(|&x| x != free_a).collect();
        let a_want = format!("{free_a}k");
        let b_want = format!("k{free_b}");
        let d_modes = format!("{free_a}{free_b}");
        let a_use: &[T] = if am == a_want {
            a
        } else {
            permute(a, am, &a_want, ext, &mut self.a2);
            &self.a2
        };
        let b_use: &[T] = if bm == b_want {
            b
        } else {
            permute(b, bm, &b_want, ext, &mut self.b2);
            &self.b2
        };
        let direct = d_modes == "mnp";
        let out: &mut [T] = if direct { c } else { &mut self.d };
        h.gemm(
            Op::N,
            Op::N,
            t,
            t * t,
            t,
            T::one(),
            a_use,
            t,
            b_use,
            t,
            T::zero(),
            out,
            t,
        )
        .expect("ttgt gemm");
        if !direct {
            permute(&self.d, &d_modes, "mnp", ext, c);
        }
    }
}

fn fill<T: Scalar>(len: usize, seed: u64) -> Vec<T> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let x = ((s >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
            T::from_c64(tensorblas::Complex64::new(x, -x))
        })
        .collect()
}

fn max_rel_diff<T: Scalar>(x: &[T], y: &[T]) -> f64 {
    let scale = y.iter().map(|v| v.to_c64().norm()).fold(0.0, f64::max).max(1e-300);
    x.iter()
        .zip(y)
        .map(|(p, q)| (p.to_c64() - q.to_c64()).norm())
        .fold(0.0, f64::max)
        / scale
}

fn measure_type<T: Scalar>(opts: &Opts, h: &Handle, ty: char, rows: &mut Vec<Row>, notes: &mut String) {
    let cs = cases();
    let flops_of = |t: usize| 2.0 * (t as f64).powi(4) * if T::IS_COMPLEX { 4.0 } else { 1.0 };
    for &t in &opts.sizes {
        let a = fill::<T>(t * t, 1);
        let b = fill::<T>(t * t * t, 2);
        let mut c = vec![T::zero(); t * t * t];
        let mut c_ref = vec![T::zero(); t * t * t];
        let mut ttgt = Ttgt::<T>::new(t);
        let s2 = Shape::col_major(&[t, t]);
        let s3 = Shape::col_major(&[t, t, t]);
        let flops = flops_of(t);
        // Flat GEMM of equal flops: m = t, n = t*t, k = t.
        let (med, min) = time(opts.samples, opts.min_sample, || {
            h.gemm(Op::N, Op::N, t, t * t, t, T::one(), &a, t, &b, t, T::zero(), &mut c, t)
                .unwrap()
        });
        let flat = Row {
            case: "-".into(),
            spec: "flat".into(),
            ty,
            t,
            variant: "flat_gemm".into(),
            plan: format!("gemm {t}x{}x{t}", t * t),
            median_ns: med,
            min_ns: min,
            gflops: flops / min,
        };
        rows.push(flat);
        for (name, am, bm) in &cs {
            let spec = format!("{am},{bm}->mnp");
            let plan = h.einsum_plan::<T>(&spec, &s2, &s3, &s3).unwrap();
            let (ra, rb) = (TensorRef::new(&a, s2.clone()), TensorRef::new(&b, s3.clone()));
            // Agreement of the two methods before timing them.
            h.einsum(
                &spec,
                T::one(),
                &ra,
                &rb,
                T::zero(),
                &mut TensorMut::new(&mut c, s3.clone()),
            )
            .unwrap();
            ttgt.run(h, am, bm, t, &a, &b, &mut c_ref);
            let diff = max_rel_diff(&c, &c_ref);
            assert!(
                diff < 1e3 * T::EPSILON * t as f64,
                "{name} {spec}: einsum and TTGT differ by {diff:e}"
            );
            let (med, min) = time(opts.samples, opts.min_sample, || {
                h.einsum(
                    &spec,
                    T::one(),
                    &ra,
                    &rb,
                    T::zero(),
                    &mut TensorMut::new(&mut c, s3.clone()),
                )
                .unwrap()
            });
            rows.push(Row {
                case: name.clone(),
                spec: spec.clone(),
                ty,
                t,
                variant: "einsum".into(),
                plan: plan.to_string(),
                median_ns: med,
                min_ns: min,
                gflops: flops / min,
            });
            let (med, min) = time(opts.samples, opts.min_sample, || ttgt.run(h, am, bm, t, &a, &b, &mut c));
            rows.push(Row {
                case: name.clone(),
                spec: spec.clone(),
                ty,
                t,
                variant: "ttgt".into(),
                plan: "transpose + gemm".into(),
                median_ns: med,
                min_ns: min,
                gflops: flops / min,
            });
            if opts.candidates {
                let all: Vec<Plan> = h.einsum_candidates::<T>(&spec, &s2, &s3, &s3).unwrap();
                if all.len() > 1 {
                    let mut best = (f64::MAX, 0usize);
                    let mut times = Vec::new();
                    for (i, p) in all.iter().enumerate() {
                        let (_, min) = time(opts.samples, opts.min_sample, || {
                            h.einsum_with_plan(
                                &spec,
                                p,
                                T::one(),
                                &ra,
                                &rb,
                                T::zero(),
                                &mut TensorMut::new(&mut c, s3.clone()),
                            )
                            .unwrap()
                        });
                        times.push(min);
                        if min < best.0 {
                            best = (min, i);
                        }
                        rows.push(Row {
                            case: name.clone(),
                            spec: spec.clone(),
                            ty,
                            t,
                            variant: format!("candidate{i}"),
                            plan: p.to_string(),
                            median_ns: min,
                            min_ns: min,
                            gflops: flops / min,
                        });
                    }
                    let _ = writeln!(
                        notes,
                        "candidates {ty} t={t} {name} {spec}: chosen #0 {:.0} us, fastest #{} {:.0} us (chosen/fastest time {:.2}); all: {}",
                        times[0] / 1e3,
                        best.1,
                        best.0 / 1e3,
                        times[0] / best.0,
                        all.iter()
                            .zip(&times)
                            .map(|(p, t)| format!("[{:.0} us: {p}]", t / 1e3))
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                }
            }
            eprint!(".");
        }
        eprintln!(" {ty} t={t} done");
    }
}

/// Planning overhead: `einsum_plan` alone, and a whole `einsum` call whose extents are all 1
/// (validation + plan + dispatch of a 1x1x1 GEMM), for contractions of order 3 and 4.
fn overhead(h: &Handle, notes: &mut String) {
    let one3 = Shape::col_major(&[1, 1, 1]);
    let one2 = Shape::col_major(&[1, 1]);
    let one4 = Shape::col_major(&[1, 1, 1, 1]);
    let (a, b) = ([1.0f32; 1], [1.0f32; 1]);
    let mut c = [0.0f32; 1];
    for (spec, sa, sb, sc) in [
        ("mk,knp->mnp", &one2, &one3, &one3),
        ("nk,pkm->mnp", &one2, &one3, &one3),
        ("bmk,bkn->bmn", &one3, &one3, &one3),
        ("mkl,lkpq->mpq", &one3, &one4, &one3),
        ("abcd,cdef->abef", &one4, &one4, &one4),
    ] {
        let n = 200_000;
        let t0 = Instant::now();
        for _ in 0..n {
            std::hint::black_box(h.einsum_plan::<f32>(spec, sa, sb, sc).unwrap());
        }
        let plan_ns = t0.elapsed().as_nanos() as f64 / n as f64;
        let (ra, rb) = (TensorRef::new(&a, sa.clone()), TensorRef::new(&b, sb.clone()));
        let t0 = Instant::now();
        for _ in 0..n {
            h.einsum(spec, 1.0f32, &ra, &rb, 0.0, &mut TensorMut::new(&mut c, sc.clone()))
                .unwrap();
        }
        let call_ns = t0.elapsed().as_nanos() as f64 / n as f64;
        // The GEMM-family call alone (1x1x1), to separate the contraction layer's share.
        let t0 = Instant::now();
        for _ in 0..n {
            h.gemm(Op::N, Op::N, 1, 1, 1, 1.0f32, &a, 1, &b, 1, 0.0, &mut c, 1)
                .unwrap();
        }
        let gemm_ns = t0.elapsed().as_nanos() as f64 / n as f64;
        let _ = writeln!(
            notes,
            "overhead {spec}: plan only {plan_ns:.0} ns; einsum call (plan + dispatch, extents 1) {call_ns:.0} ns; sgemm 1x1x1 alone {gemm_ns:.0} ns"
        );
    }
}

/// Runs the benchmark, writes `contract.csv`, the SVG plots and `notes.txt`, and returns the table.
pub fn run(opts: &Opts) -> String {
    let h = Handle::with_backend(opts.backend).expect("backend");
    h.set_num_threads(opts.threads);
    let mut rows = Vec::new();
    let mut notes = String::new();
    if opts.overhead {
        overhead(&h, &mut notes);
    }
    for &ty in &opts.types {
        match ty {
            's' => measure_type::<f32>(opts, &h, ty, &mut rows, &mut notes),
            'd' => measure_type::<f64>(opts, &h, ty, &mut rows, &mut notes),
            'c' => measure_type::<tensorblas::Complex32>(opts, &h, ty, &mut rows, &mut notes),
            _ => measure_type::<tensorblas::Complex64>(opts, &h, ty, &mut rows, &mut notes),
        }
    }
    std::fs::create_dir_all(&opts.out).ok();
    let mut csv = String::from("case,spec,type,t,variant,backend,threads,median_ns,min_ns,gflops,plan\n");
    for r in &rows {
        let _ = writeln!(
            csv,
            "{},\"{}\",{},{},{},{},{},{:.0},{:.0},{:.2},\"{}\"",
            r.case,
            r.spec,
            r.ty,
            r.t,
            r.variant,
            opts.backend,
            opts.threads,
            r.median_ns,
            r.min_ns,
            r.gflops,
            r.plan.replace('"', "'")
        );
    }
    let csv_path = opts.out.join("contract.csv");
    if let Err(e) = std::fs::write(&csv_path, csv) {
        eprintln!("warning: cannot write {}: {e}", csv_path.display());
    }
    let table = table(&rows, &notes);
    let _ = std::fs::write(opts.out.join("table.txt"), &table);
    match plot(&rows, &opts.out) {
        Ok(p) => p.iter().for_each(|p| eprintln!("wrote {}", p.display())),
        Err(e) => eprintln!("warning: {e}"),
    }
    table
}

fn geomean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

/// Per type and size: each case's GFLOP/s, its ratio to the flat GEMM and to TTGT, and the
/// goal summaries (BLAS-mappable cases vs flat GEMM at t >= 64; all cases vs TTGT at t <= 64).
pub fn table(rows: &[Row], notes: &str) -> String {
    let mut s = String::new();
    let mut keys: Vec<(char, usize)> = rows.iter().map(|r| (r.ty, r.t)).collect();
    keys.dedup();
    let mut vs_flat_big = Vec::new();
    let mut vs_ttgt_small = Vec::new();
    let mut worst_flat = (f64::MAX, String::new());
    for (ty, t) in keys {
        let sel: Vec<&Row> = rows.iter().filter(|r| r.ty == ty && r.t == t).collect();
        let flat = sel
            .iter()
            .find(|r| r.variant == "flat_gemm")
            .map_or(f64::NAN, |r| r.gflops);
        let _ = writeln!(
            s,
            "\n{ty} t={t}: flat GEMM {flat:.1} GFLOP/s (min time; GFLOP/s = flops / best sample)"
        );
        let _ = writeln!(
            s,
            "{:<5} {:<13} {:>8} {:>8} {:>7} {:>7}  plan",
            "case", "spec", "einsum", "ttgt", "/flat", "/ttgt"
        );
        for r in sel.iter().filter(|r| r.variant == "einsum") {
            let tt = sel
                .iter()
                .find(|x| x.variant == "ttgt" && x.case == r.case)
                .map_or(f64::NAN, |x| x.gflops);
            let (rf, rt) = (r.gflops / flat, r.gflops / tt);
            let _ = writeln!(
                s,
                "{:<5} {:<13} {:>8.1} {:>8.1} {:>7.2} {:>7.2}  {}",
                r.case, r.spec, r.gflops, tt, rf, rt, r.plan
            );
            let mapped = !r.plan.starts_with("general-stride") && !r.plan.starts_with("looped");
            if t >= 64 && mapped {
                vs_flat_big.push(rf);
                if rf < worst_flat.0 {
                    worst_flat = (rf, format!("{ty} t={t} {} {}", r.case, r.spec));
                }
            }
            if t <= 64 {
                vs_ttgt_small.push(rt);
            }
        }
    }
    if vs_flat_big.is_empty() {
        let _ = writeln!(
            s,
            "\nBLAS-mapped cases at t >= 64, einsum / flat GEMM: none in this run"
        );
    } else {
        let _ = writeln!(
            s,
            "\nBLAS-mapped cases at t >= 64, einsum / flat GEMM: geometric mean {:.2}, worst {:.2} ({}), {} of {} >= 0.9",
            geomean(&vs_flat_big),
            worst_flat.0,
            worst_flat.1,
            vs_flat_big.iter().filter(|&&x| x >= 0.9).count(),
            vs_flat_big.len()
        );
    }
    let _ = writeln!(
        s,
        "all cases at t <= 64, einsum / transpose-then-GEMM: geometric mean {:.2}, min {:.2}",
        geomean(&vs_ttgt_small),
        vs_ttgt_small.iter().cloned().fold(f64::MAX, f64::min)
    );
    if !notes.is_empty() {
        s.push('\n');
        s.push_str(notes);
    }
    s
}

/// One SVG per type: GFLOP/s of every case (x) for einsum and TTGT, one panel per size, the flat
/// GEMM as a line.
pub fn plot(rows: &[Row], out: &Path) -> Result<Vec<PathBuf>, String> {
    use plotters::prelude::*;
    let mut written = Vec::new();
    let mut types: Vec<char> = rows.iter().map(|r| r.ty).collect();
    types.dedup();
    for ty in types {
        let path = out.join(format!("contract-{ty}.svg"));
        let mut sizes: Vec<usize> = rows.iter().filter(|r| r.ty == ty).map(|r| r.t).collect();
        sizes.dedup();
        let target = path.clone();
        let root = SVGBackend::new(&target, (1600, 400 * sizes.len().div_ceil(2) as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let panels = root.split_evenly((sizes.len().div_ceil(2), 2));
        for (panel, &t) in panels.iter().zip(&sizes) {
            let sel: Vec<&Row> = rows.iter().filter(|r| r.ty == ty && r.t == t).collect();
            let ymax = sel.iter().map(|r| r.gflops).fold(0.0, f64::max) * 1.15;
            let mut chart = ChartBuilder::on(panel)
                .caption(format!("{ty}: C_mnp = A B, t = {t}"), ("sans-serif", 22))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(55)
                .build_cartesian_2d(-0.5f64..35.5, 0.0..ymax)
                .map_err(|e| e.to_string())?;
            let names: Vec<String> = cases().into_iter().map(|c| c.0).collect();
            chart
                .configure_mesh()
                .x_desc("case")
                .y_desc("GFLOP/s")
                .x_labels(12)
                .x_label_formatter(&|x| names.get(x.round() as usize).cloned().unwrap_or_default())
                .label_style(("sans-serif", 14))
                .draw()
                .map_err(|e| e.to_string())?;
            if let Some(f) = sel.iter().find(|r| r.variant == "flat_gemm") {
                chart
                    .draw_series(LineSeries::new(
                        [(-0.5, f.gflops), (35.5, f.gflops)],
                        BLACK.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?
                    .label("flat GEMM, equal flops")
                    .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
            }
            for (i, v) in ["einsum", "ttgt"].iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let pts: Vec<(f64, f64)> = sel
                    .iter()
                    .filter(|r| r.variant == *v)
                    .filter_map(|r| names.iter().position(|n| *n == r.case).map(|x| (x as f64, r.gflops)))
                    .collect();
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(|e| e.to_string())?
                    .label(if i == 0 {
                        "tensorblas einsum (no copy)"
                    } else {
                        "transpose + GEMM"
                    })
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .position(SeriesLabelPosition::LowerRight)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
        written.push(path.clone());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_case_list_is_the_documented_one() {
        let c = cases();
        assert_eq!(c.len(), 36);
        assert_eq!((c[1].1.as_str(), c[1].2.as_str()), ("mk", "kpn"));
        assert_eq!(
            (c[21].0.as_str(), c[21].1.as_str(), c[21].2.as_str()),
            ("4.4", "kn", "pkm")
        );
        assert_eq!((c[35].1.as_str(), c[35].2.as_str()), ("kp", "nmk"));
    }

    #[test]
    fn ttgt_matches_einsum() {
        let h = Handle::new().unwrap();
        let t = 5;
        let a = fill::<f64>(t * t, 3);
        let b = fill::<f64>(t * t * t, 4);
        let (s2, s3) = (Shape::col_major(&[t, t]), Shape::col_major(&[t, t, t]));
        for (_, am, bm) in cases() {
            let mut c1 = vec![0.0; t * t * t];
            let mut c2 = vec![0.0; t * t * t];
            h.einsum(
                &format!("{am},{bm}->mnp"),
                1.0,
                &TensorRef::new(&a, s2.clone()),
                &TensorRef::new(&b, s3.clone()),
                0.0,
                &mut TensorMut::new(&mut c1, s3.clone()),
            )
            .unwrap();
            Ttgt::<f64>::new(t).run(&h, &am, &bm, t, &a, &b, &mut c2);
            assert!(max_rel_diff(&c1, &c2) < 1e-13, "{am},{bm}");
        }
    }
}
