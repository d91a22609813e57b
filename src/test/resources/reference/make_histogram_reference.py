#!/usr/bin/env python3
"""Reference ranges and qparams of PyTorch 1.13's HistogramObserver (2048 bins, L2 search) for the calibration tests.
PyTorch 1.13's forward bins with torch.histc(min=int(min_val), max=int(max_val)) -- truncating the edges to integers
(values past the truncated max are dropped; fixed in later releases). Squeeze bins over the true [min, max], so each
case replaces the observer's histogram by torch.histc over the float min/max before running PyTorch's own range
search (_non_linear_param_search) and calculate_qparams on it.
Run: /usr/bin/python3 make_histogram_reference.py   (Debian: apt-get install python3-torch). Writes histogram_reference.json."""
import json
import os

import torch
from torch.ao.quantization.observer import HistogramObserver

torch.manual_seed(11)
datas = {
    "relu_heavy_tail": torch.relu(torch.randn(4000) * 1.5) + (torch.rand(4000) < 0.002).float() * 12,
    "gaussian": torch.randn(5000) * 2.0 + 0.3,
    "uniform": torch.rand(3000) * 6 - 1,
    "laplace": torch.distributions.Laplace(0.0, 1.0).sample((6000,)),
}
cases = []
for name, x in datas.items():
    for rr in (False, True):
        obs = HistogramObserver(bins=2048, dtype=torch.quint8, qscheme=torch.per_tensor_affine, reduce_range=rr)
        obs(x)
        obs.histogram.copy_(torch.histc(x, 2048, min=float(obs.min_val), max=float(obs.max_val)))
        new_min, new_max = obs._non_linear_param_search()
        s, z = obs.calculate_qparams()
        cases.append(dict(data=name, reduce_range=rr, x=x.tolist(), min=float(obs.min_val), max=float(obs.max_val),
                          histogram=obs.histogram.tolist(), range_min=float(new_min), range_max=float(new_max),
                          scale=float(s), zero_point=int(z)))
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "histogram_reference.json")
with open(out, "w") as f:
    json.dump(dict(torch_version=torch.__version__, cases=cases), f)
print("wrote", out, len(cases), "cases")
