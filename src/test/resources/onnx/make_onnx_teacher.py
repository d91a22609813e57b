#!/usr/bin/env python3
"""A small PyTorch teacher exported to ONNX for the soft-target tests: an MLP 64-32-10 on 8x8 digits-shaped input
(input "pixels" [N, 64], output "logits" [N, 10], dynamic batch), plus its logits on a few rows for reference.
Run: /usr/bin/python3 make_onnx_teacher.py   (Debian: apt-get install python3-torch). Writes teacher-mlp.onnx and
teacher-mlp-reference.json."""
import json
import os

import torch

torch.manual_seed(5)
here = os.path.dirname(os.path.abspath(__file__))
model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()
x = torch.rand(5, 64) * 16
torch.onnx.export(model, x, os.path.join(here, "teacher-mlp.onnx"), input_names=["pixels"], output_names=["logits"],
                  dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
with torch.no_grad():
    y = model(x)
with open(os.path.join(here, "teacher-mlp-reference.json"), "w") as f:
    json.dump(dict(torch_version=torch.__version__, x=x.tolist(), logits=y.tolist()), f)
print("wrote teacher-mlp.onnx")
