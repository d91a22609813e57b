#!/usr/bin/python3
"""PyTorch 1.13 side of `jobs/bench train`: the same network, data and minibatches as Squeeze's training benchmark —
ARCH mlp300_100 (784-300-100-10, ReLU) or lenet5 (conv 6@5x5 same, max-pool 2, conv 16@5x5, max-pool 2, dense 120,
84, 10; ReLU) — trained with Adam (lr 1e-3), minibatches of BATCH in the data's order, softmax cross-entropy, on
the first ROWS MNIST training images (pixels / 255), for EPOCHS epochs on THREADS threads. Prints JSON with the rows
per second over epochs WARMUP+1..EPOCHS (the first WARMUP, default 1, warm up, as on the Java side).
usage: /usr/bin/python3 bench/train_torch.py ARCH ROWS EPOCHS BATCH THREADS [WARMUP]"""
import json
import struct
import sys
import time

import torch
import torch.nn as nn


def idx(path):
    with open(path, "rb") as f:
        d = f.read()
    nd = struct.unpack(">I", d[:4])[0] & 0xff
    dims = struct.unpack(">" + "I" * nd, d[4:4 + 4 * nd])
    return torch.frombuffer(bytearray(d[4 + 4 * nd:]), dtype=torch.uint8).reshape(dims)


arch, rows, epochs, batch, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
warmup = int(sys.argv[6]) if len(sys.argv) > 6 else 1
torch.set_num_threads(threads)
torch.manual_seed(42)
x = idx("data/mnist/train-images-idx3-ubyte")[:rows].float().div(255)
y = idx("data/mnist/train-labels-idx1-ubyte")[:rows].long()
if arch == "mlp300_100":
    x = x.reshape(rows, 784)
    net = nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
elif arch == "lenet5":
    x = x.reshape(rows, 1, 28, 28)
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
else:
    raise SystemExit("unknown arch " + arch)
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, rows, batch)]
warm = 0.0
for e in range(1, epochs + 1):
    t0 = time.perf_counter()
    for xb, yb in batches:
        opt.zero_grad()
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
    dt = time.perf_counter() - t0
    if e > warmup:
        warm += dt
    print(f"epoch {e}: {dt:.2f} s, loss {loss.item():.4f}", file=sys.stderr)
print(json.dumps({"rows_per_s": rows * (epochs - warmup) / warm, "seconds_warm": warm, "rows": rows}))
