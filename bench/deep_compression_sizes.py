#!/usr/bin/env python3
"""Per-stage sizes of a Deep Compression run in the shape of Han et al. 2016, Table 2: for each artifact's exported
weights (`squeeze weights export`), the parameter bytes with fixed-width codes as the paper counts before Huffman
coding (each kept weight: a B-bit codebook index and a 5-bit relative index, fillers for longer gaps; the codebook
and the biases in float32), beside the bytes of the artifact's packed tensors (Huffman-coded) and whole directory.
usage: deep_compression_sizes.py DENSE_PARAMS ARTIFACT_DIR WEIGHTS_DIR [ARTIFACT_DIR WEIGHTS_DIR ...]"""
import json, os, sys
import numpy as np

def fixed_width(weights_dir, rel_bits=5):
    index = json.load(open(os.path.join(weights_dir, "index.json")))
    total = 0.0
    for e in index:
        a = np.load(os.path.join(weights_dir, e["file"]))
        if e.get("dtype") == "codebook":
            book = np.load(os.path.join(weights_dir, e["codebook"]))
            w = book[a.astype(np.int64)]
        else:
            w = a.astype(np.float32)
        if e["param"] != "W":
            total += w.size * 4
            continue
        flat = w.ravel()
        pos = np.nonzero(flat)[0]
        k = len(np.unique(flat[pos]))
        bits = max(1, int(np.ceil(np.log2(max(k, 2)))))
        span = 1 << rel_bits
        gaps = np.diff(np.concatenate([[-1], pos]))
        entries = int(np.sum((gaps - 1) // span + 1))
        if k > 256:  # not shared: float32 values
            total += entries * (32 + rel_bits) / 8
        else:
            total += entries * (bits + rel_bits) / 8 + k * 4
    return total

def main():
    dense = float(sys.argv[1])
    for art, wd in zip(sys.argv[2::2], sys.argv[3::2]):
        t = json.load(open(os.path.join(art, "packed", "tensors.json")))["tensors"]
        packed = sum(e["length"] for e in t)
        whole = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(art) for f in fs)
        fw = fixed_width(wd)
        print(f"{art}: fixed-width {fw:,.0f} B ({dense / fw:.1f}x), packed tensors {packed:,} B ({dense / packed:.1f}x), "
              f"whole directory {whole:,} B ({dense / whole:.1f}x)")

if __name__ == "__main__":
    main()
