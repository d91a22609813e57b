#!/usr/bin/env python3
"""Writes keras-rnn.h5, a Keras 2 (TensorFlow backend) HDF5 Sequential sequence classifier of SimpleRNN layers, with
h5py alone (Keras not needed), and keras-rnn-expected.json: inputs (each row 5 steps of 3 features, step after step)
and the softmax outputs NumPy computes for them, for the import tests.
Model: input (5 steps, 3 features) -> SimpleRNN(6, return_sequences=True) -> SimpleRNN(4) (its last step)
       -> Dense(3, softmax). Keras' SimpleRNN: h = tanh(x W + h U + b), kernel (in, u), recurrent_kernel (u, u), bias (u).
Run: /usr/bin/python3 make_keras_rnn_h5.py   (Debian: apt-get install python3-h5py)"""
import json
import os

import numpy as np

from keras_h5 import write_model

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(29)
STEPS, FEATURES = 5, 3
INIT = {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
ORTHO = {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}}
ZEROS = {"class_name": "Zeros", "config": {}}


def rnn_weights(n_in, units):
    return {"kernel": (rng.normal(size=(n_in, units)) * 0.6).astype(np.float32),
            "recurrent_kernel": (rng.normal(size=(units, units)) * 0.4).astype(np.float32),
            "bias": (rng.normal(size=(units,)) * 0.2).astype(np.float32)}


weights = {"simple_rnn_1": rnn_weights(FEATURES, 6), "simple_rnn_2": rnn_weights(6, 4),
           "dense_1": {"kernel": rng.normal(size=(4, 3)).astype(np.float32), "bias": (rng.normal(size=(3,)) * 0.1).astype(np.float32)}}


def rnn(name, units, return_sequences, batch_input_shape=None):
    cfg = {"name": name, "trainable": True, "dtype": "float32", "return_sequences": return_sequences, "return_state": False,
           "go_backwards": False, "stateful": False, "unroll": False, "units": units, "activation": "tanh", "use_bias": True,
           "kernel_initializer": INIT, "recurrent_initializer": ORTHO, "bias_initializer": ZEROS, "kernel_regularizer": None,
           "recurrent_regularizer": None, "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
           "recurrent_constraint": None, "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0}
    if batch_input_shape:
        cfg["batch_input_shape"] = batch_input_shape
    return {"class_name": "SimpleRNN", "config": cfg}


dense = {"class_name": "Dense", "config": {"name": "dense_1", "trainable": True, "dtype": "float32", "units": 3, "activation": "softmax",
                                           "use_bias": True, "kernel_initializer": INIT, "bias_initializer": ZEROS, "kernel_regularizer": None,
                                           "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
                                           "bias_constraint": None}}
layers = [rnn("simple_rnn_1", 6, True, [None, STEPS, FEATURES]), rnn("simple_rnn_2", 4, False), dense]
model_config = {"class_name": "Sequential", "config": {"name": "sequential_rnn", "layers": layers}}
write_model(os.path.join(here, "keras-rnn.h5"), model_config, [l["config"]["name"] for l in layers], weights)


def run_rnn(x, w):  # x (n, steps, in) -> (n, steps, units)
    h = np.zeros((x.shape[0], w["recurrent_kernel"].shape[0]))
    out = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t, :] @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"])
        out.append(h)
    return np.stack(out, axis=1)


x = rng.normal(size=(8, STEPS, FEATURES)).astype(np.float32)
a = run_rnn(x.astype(np.float64), weights["simple_rnn_1"])
a = run_rnn(a, weights["simple_rnn_2"])[:, -1, :]
z = a @ weights["dense_1"]["kernel"] + weights["dense_1"]["bias"]
p = np.exp(z - z.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
with open(os.path.join(here, "keras-rnn-expected.json"), "w") as f:
    json.dump({"inputs": x.reshape(8, -1).tolist(), "outputs": p.tolist()}, f, indent=1)
print("wrote keras-rnn.h5 and keras-rnn-expected.json")
