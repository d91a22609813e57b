#!/usr/bin/python3
"""GPTQ reference vectors for GptqTest: the reference implementation's GPTQ.fasterquant (Frantar et al. 2023,
github.com/IST-DASLab/gptq, gptq.py; blocksize 128, actorder=True, percdamp=0.01) transcribed in torch float64,
with the reference Quantizer's symmetric per-channel 4-bit grid written as PyTorch's rule (scale = max|w| / 7.5
in float32, levels [-8, 7], x * (1/scale) in float32, round half to even) — the grid Squeeze stores.
Weights are torch's [out, in]; the JSON stores Squeeze's dense layout W [in, out].
usage: python3 make_gptq_reference.py > gptq_reference.json"""
import json
import torch

torch.manual_seed(7)
K, C, N = 24, 6, 64
base = torch.randn(N, 6)
mix = torch.randn(6, K)
X = (base @ mix + 0.1 * torch.randn(N, K)).float()   # strongly correlated inputs
X[:, 5] = 0                                            # a dead input
W = torch.randn(C, K).float() * 0.3                    # torch layout [out, in]

scale = (W.abs().max(dim=1).values / torch.tensor(7.5, dtype=torch.float32)).float()   # per output channel
inv = (torch.tensor(1.0, dtype=torch.float32) / scale).float()


def quant(w, c):   # w: float64 column of one input over all channels
    q = torch.round((w.float() * inv).float()).clamp(-8, 7)
    return q.double(), (q * scale).double()


def gptq(W, X):
    W = W.double().clone()
    H = 2 * X.double().t() @ X.double()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    perm = torch.argsort(torch.diag(H), descending=True, stable=True)
    W = W[:, perm]
    H = H[perm][:, perm]
    damp = 0.01 * torch.mean(torch.diag(H))
    H[range(K), range(K)] += damp
    H = torch.linalg.cholesky(H)
    H = torch.cholesky_inverse(H)
    H = torch.linalg.cholesky(H, upper=True)
    Hinv = H
    Q = torch.zeros_like(W)
    for i1 in range(0, K, 128):
        i2 = min(i1 + 128, K)
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            w = W1[:, i]
            d = Hinv1[i, i]
            q, dq = quant(w, i)
            Q1[:, i] = q
            err1 = (w - dq) / d
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        Q[:, i1:i2] = Q1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    invperm = torch.argsort(perm)
    return Q[:, invperm]


Q = gptq(W, X)
nearest = torch.round((W * inv.unsqueeze(1)).float()).clamp(-8, 7)
deq = lambda q: q.double() * scale.double().unsqueeze(1)
err = lambda q: float(((X.double() @ (W.double() - deq(q)).t()) ** 2).sum())
print(json.dumps({
    "k": K, "c": C, "rows": N,
    "x": [float(v) for v in X.flatten()],
    "w": [float(v) for v in W.t().contiguous().flatten()],
    "gptq": [int(v) for v in Q.t().contiguous().flatten()],
    "nearest": [int(v) for v in nearest.t().contiguous().flatten()],
    "output_error_gptq": err(Q), "output_error_nearest": err(nearest),
}))
