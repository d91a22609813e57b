#!/usr/bin/env python3
"""Writes the MNIST subset the tests read (the first 3,000 training rows and all 10,000 test rows, as gzipped IDX
files with their headers' counts set to match) from the full MNIST in data/mnist (jobs/get-mnist fetches it).
MNIST: Yann LeCun, Corinna Cortes and Christopher J. C. Burges, http://yann.lecun.com/exdb/mnist/ (CC BY-SA 3.0).
   /usr/bin/python3 src/test/resources/mnist/make-subset.py   (from the repository root)"""
import gzip
import struct

SRC, DST = "data/mnist/", "src/test/resources/mnist/"


def subset(name, images, n):
    b = open(SRC + name, "rb").read()
    if images:
        magic, _, rows, cols = struct.unpack(">IIII", b[:16])
        header, body = struct.pack(">IIII", magic, n, rows, cols), b[16:16 + n * rows * cols]
    else:
        magic, _ = struct.unpack(">II", b[:8])
        header, body = struct.pack(">II", magic, n), b[8:8 + n]
    with gzip.GzipFile(DST + name + ".gz", "wb", mtime=0) as f:  # mtime 0: the same bytes on every run
        f.write(header + body)


subset("train-images-idx3-ubyte", True, 3000)
subset("train-labels-idx1-ubyte", False, 3000)
subset("t10k-images-idx3-ubyte", True, 10000)
subset("t10k-labels-idx1-ubyte", False, 10000)
