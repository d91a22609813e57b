#!/usr/bin/env python3
"""PyTorch 1.13 side of `jobs/bench deploy`: inference rows/s of an MLP (Linear + ReLU, softmax out) with the
widths given, float32 and dynamically quantized int8 (torch.ao.quantization.quantize_dynamic, the x86 engine),
batch 256 on one thread; random weights (speed does not depend on them). Prints JSON with the best of 3 timed
passes over ROWS rows after a warm-up pass.
usage: /usr/bin/python3 bench/deploy_torch.py ROWS IN H1 [H2 ...] CLASSES"""
import json
import sys
import time

import torch

rows, widths = int(sys.argv[1]), [int(a) for a in sys.argv[2:]]
torch.set_num_threads(1)
torch.manual_seed(0)
layers = []
for i in range(len(widths) - 1):
    layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
    layers.append(torch.nn.ReLU() if i < len(widths) - 2 else torch.nn.Softmax(dim=1))
net = torch.nn.Sequential(*layers).eval()
dyn = torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)
x = torch.rand(rows, widths[0])


def rate(model):
    best = None
    with torch.no_grad():
        for rep in range(4):
            t0 = time.perf_counter()
            for b in range(0, rows, 256):
                model(x[b:b + 256])
            dt = time.perf_counter() - t0
            if rep > 0:
                best = dt if best is None else min(best, dt)
    return rows / best


print(json.dumps({"float_rows_per_s": rate(net), "dynamic_int8_rows_per_s": rate(dyn), "engine": torch.backends.quantized.engine}))
