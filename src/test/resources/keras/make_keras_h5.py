#!/usr/bin/env python3
"""Writes tiny-mlp.h5, a Keras 2 (TensorFlow backend) HDF5 Sequential model, with h5py alone (Keras not needed),
and tiny-mlp-expected.json: inputs and the softmax outputs NumPy computes for them, for the import test.
Model: Dense(4 -> 5, relu) -> Dense(5 -> 3, softmax), loss categorical_crossentropy.
Run: /usr/bin/python3 make_keras_h5.py   (Debian: apt-get install python3-h5py)"""
import json
import os

import h5py
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
W1 = rng.normal(size=(4, 5)).astype(np.float32)
b1 = rng.normal(size=(5,)).astype(np.float32)
W2 = rng.normal(size=(5, 3)).astype(np.float32)
b2 = rng.normal(size=(3,)).astype(np.float32)


def dense(name, units, activation, batch_input_shape=None):
    cfg = {"name": name, "trainable": True, "dtype": "float32", "units": units, "activation": activation,
           "use_bias": True,
           "kernel_initializer": {"class_name": "VarianceScaling",
                                  "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
           "bias_initializer": {"class_name": "Zeros", "config": {}},
           "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
           "kernel_constraint": None, "bias_constraint": None}
    if batch_input_shape:
        cfg["batch_input_shape"] = batch_input_shape
    return {"class_name": "Dense", "config": cfg}


model_config = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
    dense("dense_1", 5, "relu", [None, 4]), dense("dense_2", 3, "softmax")]}}
training_config = {"loss": "categorical_crossentropy", "metrics": ["accuracy"], "sample_weight_mode": None,
                   "loss_weights": None,
                   "optimizer_config": {"class_name": "Adam", "config": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                                                                          "decay": 0.0, "epsilon": 1e-07, "amsgrad": False}}}

with h5py.File(os.path.join(here, "tiny-mlp.h5"), "w") as f:
    f.attrs["keras_version"] = b"2.2.4"
    f.attrs["backend"] = b"tensorflow"
    f.attrs["model_config"] = json.dumps(model_config).encode()
    f.attrs["training_config"] = json.dumps(training_config).encode()
    mw = f.create_group("model_weights")
    mw.attrs["keras_version"] = b"2.2.4"
    mw.attrs["backend"] = b"tensorflow"
    mw.attrs["layer_names"] = [b"dense_1", b"dense_2"]
    for name, W, b in (("dense_1", W1, b1), ("dense_2", W2, b2)):
        g = mw.create_group(name)
        g.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
        sub = g.create_group(name)
        sub.create_dataset("kernel:0", data=W)
        sub.create_dataset("bias:0", data=b)

x = rng.normal(size=(6, 4)).astype(np.float32)
h = np.maximum(x @ W1 + b1, 0)
z = h @ W2 + b2
p = np.exp(z - z.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
with open(os.path.join(here, "tiny-mlp-expected.json"), "w") as f:
    json.dump({"inputs": x.tolist(), "outputs": p.tolist(), "W1": W1.tolist()}, f, indent=1)
print("wrote tiny-mlp.h5 and tiny-mlp-expected.json")
