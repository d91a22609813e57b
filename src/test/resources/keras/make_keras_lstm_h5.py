#!/usr/bin/env python3
"""Writes keras-lstm.h5, a Keras 2 (TensorFlow backend) HDF5 Sequential sequence classifier, with h5py alone (Keras
not needed), keras-lstm-functional.h5, the same model (same weights) written with the functional API (an InputLayer and
each layer's inbound node), and keras-lstm-expected.json: inputs (each row 5 steps of 3 features, step after step) and the softmax
outputs NumPy computes for them, for the import tests.
Model: input (5 steps, 3 features) -> LSTM(6, return_sequences=True) -> LSTM(4) (its last step: return_sequences=False)
       -> Dense(3, softmax). Keras' LSTM: gates i, f, c, o side by side in kernel (in, 4u), recurrent_kernel (u, 4u) and
       bias (4u); i, f, o = sigmoid(x W + h U + b), c' = tanh(...), c = f c + i c', h = o tanh(c); recurrent_activation
       is written as "sigmoid" (Keras 2.2's default is hard_sigmoid).
Run: /usr/bin/python3 make_keras_lstm_h5.py   (Debian: apt-get install python3-h5py)"""
import json
import os

import numpy as np

from keras_h5 import write_model

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(23)
STEPS, FEATURES = 5, 3
INIT = {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
ORTHO = {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}}
ZEROS = {"class_name": "Zeros", "config": {}}


def lstm_weights(n_in, units):
    return {"kernel": (rng.normal(size=(n_in, 4 * units)) * 0.6).astype(np.float32),
            "recurrent_kernel": (rng.normal(size=(units, 4 * units)) * 0.5).astype(np.float32),
            "bias": (rng.normal(size=(4 * units,)) * 0.2).astype(np.float32)}


weights = {"lstm_1": lstm_weights(FEATURES, 6), "lstm_2": lstm_weights(6, 4),
           "dense_1": {"kernel": rng.normal(size=(4, 3)).astype(np.float32), "bias": (rng.normal(size=(3,)) * 0.1).astype(np.float32)}}


def lstm(name, units, return_sequences, batch_input_shape=None):
    cfg = {"name": name, "trainable": True, "dtype": "float32", "return_sequences": return_sequences, "return_state": False,
           "go_backwards": False, "stateful": False, "unroll": False, "units": units, "activation": "tanh",
           "recurrent_activation": "sigmoid", "use_bias": True, "kernel_initializer": INIT, "recurrent_initializer": ORTHO,
           "bias_initializer": ZEROS, "unit_forget_bias": True, "kernel_regularizer": None, "recurrent_regularizer": None,
           "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
           "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 1}
    if batch_input_shape:
        cfg["batch_input_shape"] = batch_input_shape
    return {"class_name": "LSTM", "config": cfg}


dense = {"class_name": "Dense", "config": {"name": "dense_1", "trainable": True, "dtype": "float32", "units": 3, "activation": "softmax",
                                           "use_bias": True, "kernel_initializer": INIT, "bias_initializer": ZEROS, "kernel_regularizer": None,
                                           "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
                                           "bias_constraint": None}}
layers = [lstm("lstm_1", 6, True, [None, STEPS, FEATURES]), lstm("lstm_2", 4, False), dense]
model_config = {"class_name": "Sequential", "config": {"name": "sequential_lstm", "layers": layers}}
write_model(os.path.join(here, "keras-lstm.h5"), model_config, [l["config"]["name"] for l in layers], weights)

# the functional form: Input -> lstm_1 -> lstm_2 -> dense_1, each layer naming the one it reads
chain, src = [{"name": "input_1", "class_name": "InputLayer", "inbound_nodes": [],
               "config": {"batch_input_shape": [None, STEPS, FEATURES], "dtype": "float32", "sparse": False, "name": "input_1"}}], "input_1"
for l in layers:
    cfg = {k: v for k, v in l["config"].items() if k != "batch_input_shape"}
    chain.append({"name": cfg["name"], "class_name": l["class_name"], "inbound_nodes": [[[src, 0, 0, {}]]], "config": cfg})
    src = cfg["name"]
functional = {"class_name": "Model", "config": {"name": "functional_lstm", "layers": chain, "input_layers": [["input_1", 0, 0]],
                                                "output_layers": [["dense_1", 0, 0]]}}
write_model(os.path.join(here, "keras-lstm-functional.h5"), functional, [l["name"] for l in chain], weights)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def run_lstm(x, w):  # x (n, steps, in) -> (n, steps, units)
    units = w["recurrent_kernel"].shape[0]
    n = x.shape[0]
    h = np.zeros((n, units))
    c = np.zeros((n, units))
    out = []
    for t in range(x.shape[1]):
        z = x[:, t, :] @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
        i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


x = rng.normal(size=(8, STEPS, FEATURES)).astype(np.float32)
a = run_lstm(x.astype(np.float64), weights["lstm_1"])
a = run_lstm(a, weights["lstm_2"])[:, -1, :]
z = a @ weights["dense_1"]["kernel"] + weights["dense_1"]["bias"]
p = np.exp(z - z.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
with open(os.path.join(here, "keras-lstm-expected.json"), "w") as f:
    json.dump({"inputs": x.reshape(8, -1).tolist(), "outputs": p.tolist()}, f, indent=1)
print("wrote keras-lstm.h5, keras-lstm-functional.h5 and keras-lstm-expected.json")
