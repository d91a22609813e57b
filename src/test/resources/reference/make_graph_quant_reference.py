#!/usr/bin/env python3
"""Reference outputs of PyTorch 1.13's quantized merge operators (QNNPACK engine) for the graph runtime's tests:
add and add_relu of two quint8 tensors into an output scale, concatenation on the channel axis into common qparams,
and adaptive (global) average pooling, which keeps its input's qparams.
Run: /usr/bin/python3 make_graph_quant_reference.py   (Debian: apt-get install python3-torch). Writes graph_quant_reference.json."""
import json
import os

import torch

torch.backends.quantized.engine = "qnnpack"
torch.manual_seed(5)


def q(x, scale, zp):
    return torch.quantize_per_tensor(x, scale, zp, torch.quint8)


a = torch.randn(2, 3, 4, 4) * 3
b = torch.randn(2, 3, 4, 4) * 1.5 + 1
qa, qb = q(a, 0.05, 120), q(b, 0.031, 70)
adds = []
for relu in (False, True):
    for scale, zp in ((0.07, 128), (0.045, 3), (0.09, 200)):
        op = torch.ops.quantized.add_relu if relu else torch.ops.quantized.add
        out = op(qa, qb, scale, zp)
        adds.append(dict(relu=relu, scale=scale, zero_point=zp, q=out.int_repr().flatten().tolist()))
c = torch.rand(2, 2, 4, 4) * 5
qc = q(c, 0.022, 9)
cat = torch.ops.quantized.cat([qa, qc], dim=1, scale=0.06, zero_point=100)
pool = torch.nn.functional.adaptive_avg_pool2d(qa, 1)
ref = dict(torch_version=torch.__version__, engine="qnnpack", shape=list(a.shape),
           a=dict(scale=0.05, zero_point=120, q=qa.int_repr().flatten().tolist()),
           b=dict(scale=0.031, zero_point=70, q=qb.int_repr().flatten().tolist()),
           c=dict(scale=0.022, zero_point=9, shape=list(c.shape), q=qc.int_repr().flatten().tolist()),
           adds=adds, cat=dict(scale=0.06, zero_point=100, q=cat.int_repr().flatten().tolist()),
           pool=dict(scale=pool.q_scale(), zero_point=pool.q_zero_point(), q=pool.int_repr().flatten().tolist()))
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "graph_quant_reference.json")
with open(out, "w") as f:
    json.dump(ref, f)
print("wrote", out)
