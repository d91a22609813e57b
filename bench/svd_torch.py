#!/usr/bin/env python3
"""PyTorch 1.13 side of `jobs/bench factorize`: times torch.linalg.svd and torch.svd_lowrank on the same matrix
(a float32 .npy written by the benchmark), on the same number of threads, and prints JSON.
usage: /usr/bin/python3 bench/svd_torch.py MATRIX.npy THREADS K [K...]"""
import json
import sys
import time

import numpy as np
import torch

path, threads, ks = sys.argv[1], int(sys.argv[2]), [int(k) for k in sys.argv[3:]]
torch.set_num_threads(threads)
a = torch.from_numpy(np.load(path)).double()
norm = torch.linalg.norm(a).item()
out = {"exact": {}, "randomized": {}}
t0 = time.perf_counter()
u, s, vh = torch.linalg.svd(a, full_matrices=False)
exact_s = time.perf_counter() - t0
for k in ks:
    err = torch.linalg.norm(a - (u[:, :k] * s[:k]) @ vh[:k]).item() / norm
    out["exact"][str(k)] = {"seconds": exact_s, "rel_error": err}
    best = None
    for _ in range(5):
        t0 = time.perf_counter()
        ul, sl, vl = torch.svd_lowrank(a, q=k + 10, niter=2)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    err = torch.linalg.norm(a - (ul[:, :k] * sl[:k]) @ vl[:, :k].T).item() / norm
    out["randomized"][str(k)] = {"seconds": best, "rel_error": err}
print(json.dumps(out))
