"""tensorblas from Python against numpy and TensorLy, one process, same buffers.

    python python/bench.py [--quick] [--cli target/release/tensorblas-tucker] [--out FILE.md]

Measures (median of repeats unless said; ratios are theirs / ours, so > 1 means tensorblas is
faster):
  1. tensorblas.matmul vs numpy.matmul on stacks (f32/f64; (1e5, 8, 8) and (100, 512, 512) are
     the issue's goals), and the Python-level cost of a 1x1x1 call;
  2. tensorblas.einsum vs numpy.einsum(optimize=True) on the 36 contractions of the paper at
     t = 64 (every extent t; column-major operands as in the paper and the Rust bench);
  3. tensorblas.tucker vs tensorly.decomposition.tucker at 300^3 R20 (svd init + 25 sweeps,
     tol = 0; --quick: 100^3 R10) and, with --cli, the Rust CLI on the same tensor;
  4. tensorblas.fft vs numpy.fft.fft (informational).
Writes a Markdown report (CPU, ISA, threads, versions) to --out or stdout.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

# The installed package, not the source folder beside this script (it lacks the native module).
_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [d for d in sys.path if os.path.abspath(d or ".") != _here]
import tensorblas as tb  # noqa: E402


def block(f, reps, warm_s):
    # A quiet start: numpy's OpenBLAS threads spin for a while after a call and would take one
    # of the cores this block runs on. Then a warm-up of at least warm_s: on the 2-vCPU test
    # machine the first ~50 ms of calls after a pause run up to 2x slower (both libraries).
    time.sleep(0.2)
    t0 = time.perf_counter()
    f()
    while time.perf_counter() - t0 < warm_s:
        f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return ts


def compare(f_np, f_tb, reps, rounds=3, warm_s=0.15):
    """Median seconds of numpy's and tensorblas' calls, timed in alternating blocks (rounds x
    reps calls each) so that both sides meet the same states of a shared, noisy host."""
    a, b = [], []
    for _ in range(rounds):
        a += block(f_np, reps, warm_s)
        b += block(f_tb, reps, warm_s)
    return statistics.median(a), statistics.median(b)


def timeit(f, reps, warm_s=0.03):
    return statistics.median(block(f, reps, warm_s))


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info = dict(l.split(":", 1) for l in out.splitlines() if ":" in l)
        fam, model = info.get("CPU family", "?").strip(), info.get("Model", "?").strip()
        return f"{info.get('Model name', platform.processor()).strip()} (family {fam} model {model})"
    except OSError:
        return platform.processor() or "unknown"


def numpy_blas():
    try:
        return np.__config__.CONFIG["Build Dependencies"]["blas"]["name"]
    except (AttributeError, KeyError):
        return "?"


def bench_matmul(quick, rows):
    rng = np.random.default_rng(0)
    shapes = [
        ((100_000, 8, 8), np.float32),
        ((100_000, 8, 8), np.float64),
        ((100_000, 4, 4), np.float32),
        ((10_000, 16, 16), np.float32),
        ((10_000, 32, 32), np.float64),
        ((1_000, 64, 64), np.float32),
        ((100, 512, 512), np.float32),
        ((100, 512, 512), np.float64),
    ]
    if quick:
        shapes = [(s, t) for s, t in shapes if np.prod(s) <= 6_400_000]
    for shape, dt in shapes:
        a = rng.standard_normal(shape).astype(dt)
        b = rng.standard_normal(shape).astype(dt)
        out = np.empty(shape, dt)
        reps = 3 if shape[-1] >= 512 else 10
        t_np, t_tb = compare(lambda: np.matmul(a, b, out=out), lambda: tb.matmul(a, b, out=out), reps)
        flops = 2.0 * np.prod(shape) * shape[-1]
        # Bytes the product must move (read A and B, write C) per second: how near memory it runs.
        gbs = 3 * a.nbytes / t_tb / 1e9
        rows.append((f"{shape} {np.dtype(dt).name}", t_np, t_tb, flops, gbs))
    a = np.ones((1, 1))
    per_call = {}
    for name, f in [
        ("tensorblas.matmul", lambda: tb.matmul(a, a)),
        ("numpy.matmul", lambda: np.matmul(a, a)),
        ("tensorblas.einsum", lambda: tb.einsum("ij,jk->ik", a, a)),
    ]:
        n = 20_000
        per_call[name] = timeit(lambda: [f() for _ in range(n)], 5) / n
    return per_call


def cases():
    out = []
    for a in ["mk", "km", "nk", "kn", "pk", "kp"]:
        free = [c for c in a if c != "k"][0]
        x, y = [c for c in "mnp" if c != free]
        for i, b in enumerate([f"k{x}{y}", f"k{y}{x}", f"{x}k{y}", f"{y}k{x}", f"{x}{y}k", f"{y}{x}k"]):
            out.append((f"{['mk', 'km', 'nk', 'kn', 'pk', 'kp'].index(a) + 1}.{i + 1}", f"{a},{b}->mnp"))
    return out


def bench_einsum(t, dt, reps):
    rng = np.random.default_rng(1)
    res = []
    for name, spec in cases():
        ins = spec.split("->")[0].split(",")
        a, b = (np.asfortranarray(rng.standard_normal((t,) * len(s)).astype(dt)) for s in ins)
        out = np.empty((t, t, t), dt, order="F")
        t_np, t_tb = compare(lambda: np.einsum(spec, a, b, optimize=True), lambda: tb.einsum(spec, a, b, out=out), reps)
        res.append((name, spec, t_np, t_tb, tb.explain(spec, a, b, out=out)))
    return res


def low_rank(shape, ranks, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(ranks)
    for m, (i, r) in enumerate(zip(shape, ranks)):
        x = np.moveaxis(np.tensordot(rng.standard_normal((i, r)), x, axes=(1, m)), 0, m)
    return x + noise * np.linalg.norm(x) / np.sqrt(x.size) * rng.standard_normal(shape)


def bench_tucker(quick, cli):
    import tensorly as tl
    from tensorly.decomposition import tucker as tl_tucker

    i, r = (100, 10) if quick else (300, 20)
    x = low_rank((i, i, i), (r, r, r))
    sweeps = 25
    t = time.perf_counter()
    _, e_tl = tl_tucker(x, [r] * 3, n_iter_max=sweeps, tol=0, init="svd", return_errors=True)
    t_tl = time.perf_counter() - t
    t_tb = []
    for _ in range(3):
        t = time.perf_counter()
        _, e_tb = tb.tucker(x, [r] * 3, n_iter_max=sweeps, tol=0, init="svd", return_errors=True)
        t_tb.append(time.perf_counter() - t)
    err = float(np.max(np.abs(np.array(e_tb) - np.array([float(v) for v in e_tl]))))
    res = {"shape": f"{i}^3 R{r}", "tensorly": t_tl, "tensorblas": min(t_tb), "tb_all": t_tb, "max_err_diff": err}
    if cli:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "x.npy")
            np.save(path, x)
            runs = []
            for _ in range(3):
                subprocess.run(
                    [cli, path, "--ranks", f"{r},{r},{r}", "--n-iter-max", str(sweeps), "--tol", "0",
                     "--out", os.path.join(d, "o")],
                    check=True, capture_output=True,
                )
                with open(os.path.join(d, "o", "summary.json")) as f:
                    runs.append(json.load(f)["seconds"]["total"])
            res["cli"] = min(runs)
            res["cli_all"] = runs
    return res


def bench_fft(quick):
    rng = np.random.default_rng(2)
    rows = []
    for n in ([1 << 14] if quick else [1 << 14, 1 << 18, 1 << 20]):
        x = rng.standard_normal(n) + 1j * rng.standard_normal(n)
        t_np, t_tb = compare(lambda: np.fft.fft(x), lambda: tb.fft(x), 5)
        rows.append((n, t_np, t_tb))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes only (a minute)")
    ap.add_argument("--cli", help="path of the tensorblas-tucker binary to compare against")
    ap.add_argument("--out", help="write the Markdown report here (default: stdout)")
    args = ap.parse_args()

    lines = []
    p = lines.append
    p(f"- CPU: {cpu_name()}; tensorblas ISA: {tb.isa()}; threads: {tb.get_num_threads()}; "
      f"backend: {tb.get_backend()}")
    p(f"- Python {platform.python_version()}, numpy {np.__version__} (BLAS: {numpy_blas()}), "
      f"tensorblas {tb.__version__}")
    p(f"- command: `python {' '.join(sys.argv)}`")
    p("")

    rows = []
    per_call = bench_matmul(args.quick, rows)
    p("### matmul on stacks (median of 3 alternating blocks per side, each after 0.15 s of warm-up; out= given to both)")
    p("")
    p("| stack | numpy.matmul ms | tensorblas.matmul ms | speedup | tensorblas GFLOP/s | tensorblas GB/s (A, B read, C written) |")
    p("|---|---|---|---|---|---|")
    for name, t_np, t_tb, flops, gbs in rows:
        p(f"| {name} | {t_np * 1e3:.3f} | {t_tb * 1e3:.3f} | **{t_np / t_tb:.2f}x** | {flops / t_tb / 1e9:.1f} | {gbs:.1f} |")
    p("")
    p("Per call, 1x1x1 float64 (Python-level overhead): " + ", ".join(
        f"{k} {v * 1e6:.2f} us" for k, v in per_call.items()))
    p("")

    t = 32 if args.quick else 64
    for dt in (np.float64, np.float32):
        res = bench_einsum(t, dt, 5 if args.quick else 10)
        ratios = [a / b for _, _, a, b, _ in res]
        geo = float(np.exp(np.mean(np.log(ratios))))
        p(f"### einsum, 36 cases, t = {t}, {np.dtype(dt).name} (numpy.einsum optimize=True / tensorblas.einsum)")
        p("")
        p(f"Geometric mean speedup **{geo:.2f}x**, min {min(ratios):.2f}x, max {max(ratios):.2f}x.")
        p("")
        p("| case | spec | numpy ms | tensorblas ms | speedup | plan |")
        p("|---|---|---|---|---|---|")
        for (name, spec, a, b, plan), r in zip(res, ratios):
            p(f"| {name} | `{spec}` | {a * 1e3:.3f} | {b * 1e3:.3f} | {r:.2f}x | `{plan}` |")
        p("")

    try:
        tk = bench_tucker(args.quick, args.cli)
        p(f"### Tucker {tk['shape']}, svd init + 25 sweeps, float64")
        p("")
        p(f"- tensorly.decomposition.tucker: {tk['tensorly']:.2f} s")
        p(f"- tensorblas.tucker: {tk['tensorblas']:.3f} s (best of {', '.join(f'{v:.3f}' for v in tk['tb_all'])}) "
          f"= **{tk['tensorly'] / tk['tensorblas']:.1f}x TensorLy**; per-sweep errors differ by at most "
          f"{tk['max_err_diff']:.1e}")
        if "cli" in tk:
            p(f"- Rust CLI (`{args.cli}`, summary.json seconds.total): {tk['cli']:.3f} s (best of "
              f"{', '.join(f'{v:.3f}' for v in tk['cli_all'])}); Python / CLI = "
              f"**{tk['tensorblas'] / tk['cli']:.3f}**")
        p("")
    except ImportError:
        p("### Tucker: skipped (TensorLy not installed: pip install tensorly)")
        p("")

    p("### fft (informational; numpy.fft is pocketfft, single-threaded)")
    p("")
    p("| N | numpy.fft.fft ms | tensorblas.fft ms | speedup |")
    p("|---|---|---|---|")
    for n, a, b in bench_fft(args.quick):
        p(f"| {n} | {a * 1e3:.3f} | {b * 1e3:.3f} | {a / b:.2f}x |")
    p("")

    text = "\n".join(lines)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
