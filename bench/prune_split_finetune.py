#!/usr/bin/env python3
"""Does the per-layer split of LeNet-300-100's 95 % pruning budget matter after fine-tuning? (docs/RESULTS.md,
"Recipes, sensitivity and budgets", session 16.) Each split prunes every layer by magnitude to its fraction, then
fine-tunes 3 epochs (Adam 1e-3, batch 64, the masks enforced after every step) with PyTorch, once per seed, and
prints the test accuracy: the global threshold's split, our sensitivity allocation's, the exhaustive search's best
before fine-tuning (bench/prune_allocation_search.py), and a grid over the second and third layers (the first
takes the rest of the budget).
usage (from the project root, after jobs/get-mnist and jobs/mnist-baseline; PyTorch from apt):
  jobs/squeeze weights export --model out/mnist/lenet-300-100 --out /tmp/g/npy
  /usr/bin/python3 bench/prune_split_finetune.py 1 2"""
import numpy as np, torch, sys, struct, itertools, json
torch.set_num_threads(2)
def idx(p):
    d=open(p,'rb').read(); m=struct.unpack('>I',d[:4])[0]; nd=m&0xff; dims=struct.unpack('>'+'I'*nd,d[4:4+4*nd])
    return np.frombuffer(d[4+4*nd:],dtype=np.uint8).reshape(dims)
X=torch.tensor(idx('data/mnist/train-images-idx3-ubyte').reshape(-1,784).astype(np.float32)/255); Y=torch.tensor(idx('data/mnist/train-labels-idx1-ubyte').astype(np.int64))
Xt=torch.tensor(idx('data/mnist/t10k-images-idx3-ubyte').reshape(-1,784).astype(np.float32)/255); Yt=torch.tensor(idx('data/mnist/t10k-labels-idx1-ubyte').astype(np.int64))
W=[np.load(f'/tmp/g/npy/layer{i}_W.npy') for i in range(3)]; B=[np.load(f'/tmp/g/npy/layer{i}_b.npy').reshape(-1) for i in range(3)]
n=[w.size for w in W]; T=0.95*sum(n)
def mask(w,frac):
    k=int(round(frac*w.size)); a=np.abs(w).ravel(); m=np.ones(w.size,np.float32)
    m[np.argsort(a,kind='stable')[:k]]=0; return m.reshape(w.shape)
def run(fr, seed, epochs=3):
    torch.manual_seed(seed)
    ws=[torch.tensor(W[i]*mask(W[i],fr[i]),requires_grad=True) for i in range(3)]
    ms=[(w!=0).float() for w in ws]
    bs=[torch.tensor(B[i],requires_grad=True) for i in range(3)]
    opt=torch.optim.Adam(ws+bs,lr=1e-3)
    def fwd(x):
        h=x
        for i in range(3):
            h=h@ws[i]+bs[i]
            if i<2: h=torch.relu(h)
        return h
    for e in range(epochs):
        perm=torch.randperm(60000)
        for s in range(0,60000,64):
            j=perm[s:s+64]; opt.zero_grad(); l=torch.nn.functional.cross_entropy(fwd(X[j]),Y[j]); l.backward(); opt.step()
            with torch.no_grad():
                for w,m in zip(ws,ms): w.mul_(m)
    with torch.no_grad(): return float((fwd(Xt).argmax(1)==Yt).float().mean())
a=np.concatenate([np.abs(w).ravel() for w in W]); thr=np.sort(a)[int(T)-1]
g=[float((np.abs(w)<=thr).mean()) for w in W]
def split(f1,f2): return [(T-f1*n[1]-f2*n[2])/n[0],f1,f2]
cands={'global':g,'ours':[0.96,0.90,0.50],'exh':[0.967,0.84,0.25]}
for f1,f2 in [(0.7,0.2),(0.8,0.2),(0.8,0.6),(0.9,0.2),(0.9,0.6),(0.7,0.6)]:
    cands[f'{f1}/{f2}']=split(f1,f2)
seeds=[int(s) for s in sys.argv[1:]] or [1]
for name,fr in cands.items():
    if not 0<=fr[0]<=1: continue
    accs=[run(fr,s) for s in seeds]
    print(json.dumps({'name':name,'split':[round(x,4) for x in fr],'acc':accs,'mean':float(np.mean(accs))}),flush=True)
