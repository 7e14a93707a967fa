#!/usr/bin/env python3
"""TensorLy's Tucker on the same data as `tensorblas-bench tucker` (the peer measurement).

    python3 benches/peers/tensorly_tucker.py X.npy --ranks 20,20,20 [--n-iter 25]

Prints one JSON line: {"total": s, "init": s, "per_sweep": s, "rel_error": e, "n_iter": k,
"tensorly": version}. total = tucker(X, rank, n_iter_max, tol=0, init='svd'); init =
initialize_tucker alone (TensorLy's HOSVD, full SVDs); per_sweep = (total - init) / n_iter;
rel_error = ||X - [[G;U]]|| / ||X|| recomputed explicitly. Needs numpy and tensorly
(pip install tensorly).
"""
import argparse
import json
import time

import numpy as np
import tensorly as tl
from tensorly.decomposition import tucker
from tensorly.decomposition._tucker import initialize_tucker


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("x")
    ap.add_argument("--ranks", required=True)
    ap.add_argument("--n-iter", type=int, default=25)
    a = ap.parse_args()
    tl.set_backend("numpy")
    x = np.load(a.x)
    ranks = [int(r) for r in a.ranks.split(",")]
    t0 = time.perf_counter()
    initialize_tucker(x, ranks, list(range(x.ndim)), 0, init="svd")
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    res, errs = tucker(x, rank=ranks, n_iter_max=a.n_iter, tol=0, init="svd", return_errors=True, random_state=0)
    total = time.perf_counter() - t0
    xh = tl.tucker_to_tensor((res.core, res.factors))
    rel = float(np.linalg.norm(x - xh) / np.linalg.norm(x))
    print(json.dumps({
        "total": total, "init": t_init, "per_sweep": (total - t_init) / a.n_iter,
        "rel_error": rel, "n_iter": len(errs), "tensorly": tl.__version__,
    }))


if __name__ == "__main__":
    main()
