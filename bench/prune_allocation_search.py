#!/usr/bin/env python3
"""Exhaustive search of per-layer pruning amounts for LeNet-300-100 at 95 % overall sparsity (docs/RESULTS.md,
"Recipes, sensitivity and budgets", session 15): every split of the budget over a grid, scored by the training
loss before fine-tuning, against the global magnitude threshold's split. numpy only.
usage (from the project root, after jobs/get-mnist and jobs/mnist-baseline):
  jobs/squeeze weights export --model out/mnist/lenet-300-100 --out /tmp/g/npy
  python3 bench/prune_allocation_search.py"""
import numpy as np, itertools, json, sys
def idx(p):
    d=open(p,'rb').read(); import struct
    m=struct.unpack('>I',d[:4])[0]; nd=m&0xff; dims=struct.unpack('>'+'I'*nd,d[4:4+4*nd])
    return np.frombuffer(d[4+4*nd:],dtype=np.uint8).reshape(dims)
X=idx('data/mnist/train-images-idx3-ubyte').reshape(-1,784).astype(np.float32)/255; Y=idx('data/mnist/train-labels-idx1-ubyte')
W=[np.load(f'/tmp/g/npy/layer{i}_W.npy') for i in range(3)]; B=[np.load(f'/tmp/g/npy/layer{i}_b.npy').reshape(-1) for i in range(3)]
print([w.shape for w in W])
def loss(ws):
    h=X
    for i,(w,b) in enumerate(zip(ws,B)):
        h=h@w+b
        if i<2: h=np.maximum(h,0)
    h=h-h.max(1,keepdims=True); lp=h-np.log(np.exp(h).sum(1,keepdims=True))
    return float(-lp[np.arange(len(Y)),Y].mean()), float((lp.argmax(1)==Y).mean())
def prune(w,frac):
    k=int(round(frac*w.size))
    if k==0: return w
    a=np.abs(w).ravel(); thr=np.partition(a,k-1)[k-1]
    o=w.copy(); idxs=np.argsort(a,kind='stable')[:k]; o.ravel()[idxs]=0; return o
n=[w.size for w in W]; total=sum(n); T=0.95*total
# global
a=np.concatenate([np.abs(w).ravel() for w in W]); thr=np.sort(a)[int(T)-1]
g=[float((np.abs(w)<=thr).mean()) for w in W]; print('global', g, loss([prune(w,f) for w,f in zip(W,g)]))
best=None
grid0=np.arange(0.94,0.985,0.0025); grid1=np.arange(0.70,0.985,0.02); grid2=np.arange(0.2,0.9,0.05)
for f1 in grid1:
  for f2 in grid2:
    f0=(T-f1*n[1]-f2*n[2])/n[0]
    if not (0<=f0<=1): continue
    l=loss([prune(W[0],f0),prune(W[1],f1),prune(W[2],f2)])
    if best is None or l[0]<best[0][0]: best=(l,(f0,f1,f2)); print('best so far', best, flush=True)
print('BEST', best)
