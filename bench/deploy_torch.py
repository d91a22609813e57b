#!/usr/bin/env python3
"""PyTorch 1.13 side of `jobs/bench deploy`: inference rows/s of an MLP (Linear + ReLU, softmax out) with the
widths given, or LeNet-5 as `squeeze train --arch lenet5` builds it (28x28x1: conv 5x5x6 same, max-pool 2, conv 5x5x16,
max-pool 2, 120, 84, classes; ReLU), float32 and dynamically quantized int8 (Linear layers only, as PyTorch does) (torch.ao.quantization.quantize_dynamic, the x86 engine),
batch 256 on one thread; random weights (speed does not depend on them). Prints JSON with the best of 3 timed
passes over ROWS rows after a warm-up pass.
usage: /usr/bin/python3 bench/deploy_torch.py ROWS IN H1 [H2 ...] CLASSES
       /usr/bin/python3 bench/deploy_torch.py ROWS lenet5"""
import json
import sys
import time

import torch

rows = int(sys.argv[1])
torch.set_num_threads(1)
torch.manual_seed(0)
nn = torch.nn
if sys.argv[2] == "lenet5":
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
                        nn.Softmax(dim=1)).eval()
    x = torch.rand(rows, 1, 28, 28)
else:
    widths = [int(a) for a in sys.argv[2:]]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        layers.append(nn.ReLU() if i < len(widths) - 2 else nn.Softmax(dim=1))
    net = nn.Sequential(*layers).eval()
    x = torch.rand(rows, widths[0])
dyn = torch.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)


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
