#!/usr/bin/env python3
"""Reference qparams and quantized integers from PyTorch 1.13's torch.ao.quantization for the quantization tests.
Run: /usr/bin/python3 make_quant_reference.py   (Debian: apt-get install python3-torch). Writes quant_reference.json."""
import json
import os

import torch
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

torch.manual_seed(3)
cases = []
datas = {
    "mixed": (torch.randn(6, 10) * 2.5),
    "positive": torch.rand(6, 10) * 4 + 0.5,
    "negative": -torch.rand(6, 10) * 3 - 0.1,
    "constant": torch.full((6, 10), 0.75),
    "ties": torch.tensor([[-1.5, -0.5, 0.5, 1.5, 2.5, -2.5, 0.0, 3.0, -3.0, 1.0]] * 6) * 0.1,
}
for name, x in datas.items():
    for dtype in (torch.quint8, torch.qint8):
        for sym in (False, True):
            for rr in (False, True):
                if sym and rr and dtype == torch.quint8:
                    continue  # PyTorch refuses: "Cannot reduce range for symmetric quantization for quint8"
                obs = MinMaxObserver(dtype=dtype, qscheme=torch.per_tensor_symmetric if sym else torch.per_tensor_affine, reduce_range=rr)
                obs(x)
                s, z = obs.calculate_qparams()
                q = torch.quantize_per_tensor(x, float(s), int(z), dtype).int_repr()
                pobs = PerChannelMinMaxObserver(ch_axis=0, dtype=dtype,
                                                qscheme=torch.per_channel_symmetric if sym else torch.per_channel_affine, reduce_range=rr)
                pobs(x)
                ps, pz = pobs.calculate_qparams()
                pq = torch.quantize_per_channel(x, ps.double(), pz.long(), 0, dtype).int_repr()
                cases.append(dict(data=name, dtype="quint8" if dtype == torch.quint8 else "qint8", symmetric=sym, reduce_range=rr,
                                  x=x.flatten().tolist(), shape=list(x.shape), scale=float(s), zero_point=int(z), q=q.flatten().tolist(),
                                  channel_scale=ps.tolist(), channel_zero_point=pz.tolist(), channel_q=pq.flatten().tolist()))
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quant_reference.json")
with open(out, "w") as f:
    json.dump(dict(torch_version=torch.__version__, cases=cases), f)
print("wrote", out, len(cases), "cases")
