#!/usr/bin/env python3
"""Reference masks from PyTorch 1.13's torch.nn.utils.prune for the pruning tests.
Run: /usr/bin/python3 make_prune_reference.py   (Debian: apt-get install python3-torch)
Writes prune_reference.json: tensors in PyTorch layout ([out, in] for linear, [out, in, kh, kw] for conv), flat in
C order, with the mask PyTorch computes (1 = kept). Weights are drawn tie-free (distinct magnitudes)."""
import json
import os

import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

torch.manual_seed(1234)
cases = []


def tie_free(*shape):
    n = 1
    for s in shape:
        n *= s
    mags = torch.randperm(n).float() / n + 0.01 + torch.rand(n) * (0.5 / n)
    signs = torch.where(torch.rand(n) < 0.5, -1.0, 1.0)
    return (mags * signs).reshape(shape)


def linear(out_f, in_f):
    m = nn.Linear(in_f, out_f)
    with torch.no_grad():
        m.weight.copy_(tie_free(out_f, in_f))
    return m


def conv(out_c, in_c, k):
    m = nn.Conv2d(in_c, out_c, k)
    with torch.no_grad():
        m.weight.copy_(tie_free(out_c, in_c, k, k))
    return m


def record(name, method, module_or_w, mask, **kw):
    w = module_or_w if isinstance(module_or_w, torch.Tensor) else module_or_w.weight_orig
    cases.append(dict(name=name, method=method, shape=list(w.shape), weights=w.detach().flatten().tolist(),
                      mask=mask.detach().flatten().int().tolist(), **kw))


for amount in (0.3, 0.25, 0.35, 7):
    m = linear(6, 5)
    prune.l1_unstructured(m, "weight", amount=amount)
    record(f"l1-{amount}", "l1", m, m.weight_mask, amount=amount, pruned=int((m.weight_mask == 0).sum()))

m = linear(2, 5)  # 10 weights: 0.5 then 0.5 of the remaining -> 5 + round(2.5)=2 -> 7
prune.l1_unstructured(m, "weight", amount=0.5)
first = m.weight_mask.clone()
prune.l1_unstructured(m, "weight", amount=0.5)
record("l1-compose", "l1", m, m.weight_mask, amount=0.5, first_mask=first.flatten().int().tolist(),
       pruned=int((m.weight_mask == 0).sum()))

layers = [linear(4, 3), linear(5, 4), linear(2, 5)]
prune.global_unstructured([(l, "weight") for l in layers], pruning_method=prune.L1Unstructured, amount=0.4)
cases.append(dict(name="global-0.4", method="global", amount=0.4,
                  tensors=[dict(shape=list(l.weight_orig.shape), weights=l.weight_orig.flatten().tolist(),
                                mask=l.weight_mask.flatten().int().tolist()) for l in layers]))

for n, tag in ((1, "1"), (2, "2"), (float("inf"), "inf")):
    for dim, dname in ((0, "out"), (1, "in")):
        m = linear(6, 5)
        prune.ln_structured(m, "weight", amount=0.5, n=n, dim=dim)
        record(f"ln-{tag}-{dname}", "ln", m, m.weight_mask, amount=0.5, norm=tag, dim=dname)
c = conv(4, 3, 2)
prune.ln_structured(c, "weight", amount=0.5, n=2, dim=0)
record("ln-2-out-conv", "ln", c, c.weight_mask, amount=0.5, norm="2", dim="out")
m = linear(8, 3)
prune.ln_structured(m, "weight", amount=0.25, n=1, dim=0)
first = m.weight_mask.clone()
prune.ln_structured(m, "weight", amount=0.5, n=1, dim=0)  # of the 6 remaining rows: 3
record("ln-compose", "ln", m, m.weight_mask, amount=0.5, norm="1", dim="out", first_mask=first.flatten().int().tolist())

for amount, size in ((0.35, 17), (0.25, 10), (0.35, 10), (0.5, 9)):
    m = linear(1, size)
    prune.random_unstructured(m, "weight", amount=amount)
    record(f"random-{amount}-{size}", "random", m, m.weight_mask, amount=amount, pruned=int((m.weight_mask == 0).sum()))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prune_reference.json")
with open(out, "w") as f:
    json.dump(dict(torch_version=torch.__version__, cases=cases), f)
print("wrote", out, len(cases), "cases")
