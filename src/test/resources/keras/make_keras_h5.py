#!/usr/bin/env python3
"""Writes tiny-mlp.h5, a Keras 2 (TensorFlow backend) HDF5 Sequential model, with h5py alone (Keras not needed),
and tiny-mlp-expected.json: inputs and the softmax outputs NumPy computes for them, for the import test.
Model: Dense(4 -> 5, relu) -> Dense(5 -> 3, softmax), loss categorical_crossentropy.
Run: /usr/bin/python3 make_keras_h5.py   (Debian: apt-get install python3-h5py)"""
import json
import os

import numpy as np

from keras_h5 import write_model

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
write_model(os.path.join(here, "tiny-mlp.h5"), model_config, ["dense_1", "dense_2"],
            {"dense_1": {"kernel": W1, "bias": b1}, "dense_2": {"kernel": W2, "bias": b2}})

x = rng.normal(size=(6, 4)).astype(np.float32)
h = np.maximum(x @ W1 + b1, 0)
z = h @ W2 + b2
p = np.exp(z - z.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
with open(os.path.join(here, "tiny-mlp-expected.json"), "w") as f:
    json.dump({"inputs": x.tolist(), "outputs": p.tolist(), "W1": W1.tolist()}, f, indent=1)
print("wrote tiny-mlp.h5 and tiny-mlp-expected.json")
