#!/usr/bin/env python3
"""Reference values and gradients of the knowledge-distillation loss from PyTorch 1.13 for the distillation tests:
  L = alpha * CE(s, y) + (1 - alpha) * T^2 * kl_div(log_softmax(s / T), softmax(t / T), reduction='batchmean')
with the hard term summed over labelled rows and divided by the batch size (rows without a label, y = -1, keep
the soft term only; with every row labelled this is F.cross_entropy's mean). Gradients by autograd w.r.t. s.
Run: /usr/bin/python3 make_kd_reference.py   (Debian: apt-get install python3-torch). Writes kd_reference.json."""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(17)
cases = []
for alpha, T, unlabelled, topk in [(0.5, 4.0, 0, None), (0.1, 20.0, 0, None), (1.0, 1.0, 0, None), (0.0, 2.5, 0, None),
                                   (0.3, 3.0, 2, None), (0.5, 4.0, 0, 3), (0.7, 8.0, 1, 5)]:
    B, K = 6, 10
    s = (torch.randn(B, K) * 3).requires_grad_(True)
    t = torch.randn(B, K) * 4
    y = torch.randint(0, K, (B,))
    y[:unlabelled] = -1
    if topk is not None:  # a top-k teacher: the other logits are -inf
        keep = torch.topk(t, topk, dim=1).indices
        masked = torch.full_like(t, float("-inf"))
        t = masked.scatter(1, keep, t.gather(1, keep))
    soft = F.kl_div(F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1), reduction="batchmean")
    labelled = y >= 0
    hard = F.cross_entropy(s[labelled], y[labelled], reduction="sum") / B if labelled.any() else torch.tensor(0.0)
    loss = alpha * hard + (1 - alpha) * T * T * soft
    loss.backward()
    cases.append(dict(alpha=alpha, temperature=T, student=s.detach().flatten().tolist(),
                      teacher=[x if x != float("-inf") else "-inf" for x in t.flatten().tolist()],
                      labels=y.tolist(), loss=loss.item(), grad=s.grad.flatten().tolist(), rows=B, classes=K))
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kd_reference.json")
with open(out, "w") as f:
    json.dump(dict(torch_version=torch.__version__, cases=cases), f)
print("wrote", out, len(cases), "cases")
