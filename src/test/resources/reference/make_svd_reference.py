#!/usr/bin/env python3
"""Reference low-rank errors from PyTorch 1.13 (torch.linalg.svd, torch.svd_lowrank) for the SVD tests.
Run: /usr/bin/python3 make_svd_reference.py   (Debian: apt-get install python3-torch). Writes svd_reference.json:
matrices (C order) with decaying spectra, and for each k the Frobenius error of the exact truncation and of
svd_lowrank(q = k + 10, niter = 2): q includes the oversampling, so this matches p = 10, power iterations 2."""
import json
import os

import torch

torch.manual_seed(7)
cases = []
for (m, n, decay) in ((60, 40, 0.15), (40, 70, 0.08), (90, 90, 0.05)):
    U, _ = torch.linalg.qr(torch.randn(m, min(m, n), dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(n, min(m, n), dtype=torch.float64))
    s = torch.exp(-decay * torch.arange(min(m, n), dtype=torch.float64)) * 3.0
    A = (U * s) @ V.T
    ks = [1, 5, 10]
    exact, lowrank = [], []
    Ue, Se, Vhe = torch.linalg.svd(A, full_matrices=False)
    for k in ks:
        exact.append(float(torch.linalg.norm(A - (Ue[:, :k] * Se[:k]) @ Vhe[:k]).item()))
        Ul, Sl, Vl = torch.svd_lowrank(A, q=k + 10, niter=2)   # returns V, not V^T
        lowrank.append(float(torch.linalg.norm(A - (Ul[:, :k] * Sl[:k]) @ Vl[:, :k].T).item()))
    cases.append(dict(m=m, n=n, a=A.flatten().tolist(), s=Se.tolist(), ks=ks, exact_error=exact, lowrank_error=lowrank))
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "svd_reference.json")
with open(out, "w") as f:
    json.dump(dict(torch_version=torch.__version__, cases=cases), f)
print("wrote", out)
