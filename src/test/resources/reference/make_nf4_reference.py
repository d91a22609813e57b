#!/usr/bin/env python3
"""NF4 reference vectors for NormalFloat4Test (QLoRA, Dettmers et al. 2023): block-wise absmax quantization to the
16 NF4 levels of the paper's appendix E / bitsandbytes' NF4 code (blocks of 64, a last shorter block over its own
values), nearest level with a midpoint taking the lower one, all in float32; then double quantization of the block
maxima as NormalFloat4 documents it (mean subtracted, groups of 256 blocks scaled by their largest deviation into
[-127, 127], round half to even). numpy only: bitsandbytes needs a GPU.
usage: python3 make_nf4_reference.py > nf4_reference.json"""
import json
import numpy as np

LEVELS = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                   -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                   0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                   0.7229568362236023, 1.0], dtype=np.float32)
MIDS = ((LEVELS[:-1] + LEVELS[1:]) / np.float32(2)).astype(np.float32)


def quantize(w):
    w = w.astype(np.float32)
    nb = (len(w) + 63) // 64
    codes = np.zeros(len(w), dtype=np.int64)
    absmax = np.zeros(nb, dtype=np.float32)
    for b in range(nb):
        x = w[b * 64:(b + 1) * 64]
        m = np.float32(np.max(np.abs(x)))
        absmax[b] = m
        if m == 0:
            codes[b * 64:b * 64 + len(x)] = 7
        else:
            z = (x / m).astype(np.float32)
            codes[b * 64:b * 64 + len(x)] = np.searchsorted(MIDS, z, side="left")  # first midpoint >= z: ties go low
    offset = np.float32(np.sum(absmax.astype(np.float64)) / nb)
    ng = (nb + 255) // 256
    scales = np.zeros(ng, dtype=np.float32)
    q8 = np.zeros(nb, dtype=np.int64)
    for g in range(ng):
        a = absmax[g * 256:(g + 1) * 256]
        dev = np.float32(np.max(np.abs((a - offset).astype(np.float32))))
        s = np.float32(1.0) if dev == 0 else np.float32(dev / np.float32(127))
        scales[g] = s
        q8[g * 256:(g + 1) * 256] = np.clip(np.rint(((a - offset).astype(np.float32) / s).astype(np.float32)), -127, 127)
    deq_absmax = (q8.astype(np.float32) * np.repeat(scales, 256)[:nb] + offset).astype(np.float32)
    deq = (LEVELS[codes] * np.repeat(deq_absmax, 64)[:len(w)]).astype(np.float32)
    return codes, q8, scales, offset, deq


def main():
    rng = np.random.default_rng(17)
    cases = []
    for name, w in [("gaussian_64x30", rng.normal(0, 0.05, 64 * 30)),
                    ("ragged_1000", rng.normal(0, 1, 1000)),  # 15 full blocks and one of 40
                    ("groups_16500", rng.standard_t(3, 16500) * 0.02),  # 258 blocks: two groups
                    ("zeros_and_levels", np.concatenate([np.zeros(64), LEVELS * 3, -LEVELS, [0.5] * 32]))]:
        w = w.astype(np.float32)
        codes, q8, scales, offset, deq = quantize(w)
        bits = lambda a: a.astype(np.float32).view(np.int32).tolist()  # float32 bit patterns: exact and short
        cases.append({"name": name, "w": bits(w), "codes": "".join("0123456789abcdef"[c] for c in codes), "q8": q8.tolist(),
                      "scales": bits(scales), "offset": int(np.float32(offset).view(np.int32)), "dequantized": bits(deq)})
    print(json.dumps({"levels": LEVELS.view(np.int32).tolist(), "cases": cases}))


if __name__ == "__main__":
    main()
