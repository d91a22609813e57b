#!/usr/bin/env python3
"""PyTorch 1.13 side of `jobs/bench quantize`: per-channel int8 weight quantization (PerChannelMinMaxObserver +
quantize_per_channel, symmetric qint8, as Squeeze's kernel) of a float32 [ROWS, COLS] tensor on THREADS threads;
prints JSON with the best of 5 times.   usage: /usr/bin/python3 bench/quant_torch.py ROWS COLS THREADS"""
import json
import sys
import time

import torch
from torch.ao.quantization.observer import PerChannelMinMaxObserver

rows, cols, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
w = torch.randn(rows, cols)
best = None
for _ in range(5):
    t0 = time.perf_counter()
    obs = PerChannelMinMaxObserver(ch_axis=1, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    obs(w)
    s, z = obs.calculate_qparams()
    q = torch.quantize_per_channel(w, s.double(), z.long(), 1, torch.qint8).int_repr()
    dt = time.perf_counter() - t0
    best = dt if best is None else min(best, dt)
print(json.dumps({"seconds": best, "weights": rows * cols}))
