#!/usr/bin/env python3
"""Writes two Keras 2 (TensorFlow backend) HDF5 functional-API models with h5py alone (Keras not needed), and the
outputs NumPy computes for the chain, for the import tests:
- functional-chain.h5: Input(6) -> Dense(5, linear, "hidden") -> BatchNormalization("bn") -> Activation(relu)
  -> Dense(3, softmax, "out"); moving statistics random, epsilon 1e-3 (Keras' default);
  functional-chain-expected.json holds inputs and softmax outputs.
- functional-residual.h5: Input(6) -> Dense(6, relu, "d1") -> Dense(6, linear, "d2") -> BatchNormalization("bn2")
  -> Add([d1, bn2], "add") -> Dense(4, relu, "left") and Dense(2, relu, "right") -> Concatenate("concat")
  -> Dense(3, softmax, "out"): a residual add, a concatenation and batch normalization;
  functional-residual-expected.json holds inputs and softmax outputs.
Run: /usr/bin/python3 make_keras_functional_h5.py   (Debian: apt-get install python3-h5py)"""
import json
import os

import numpy as np

from keras_h5 import write_model

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(11)
INIT = {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}


def node(*inputs):
    return [[[i, 0, 0, {}] for i in inputs]]


def input_layer(name, n):
    return {"name": name, "class_name": "InputLayer", "inbound_nodes": [],
            "config": {"batch_input_shape": [None, n], "dtype": "float32", "sparse": False, "name": name}}


def dense(name, units, activation, src):
    return {"name": name, "class_name": "Dense", "inbound_nodes": node(src), "config": {
        "name": name, "trainable": True, "dtype": "float32", "units": units, "activation": activation, "use_bias": True,
        "kernel_initializer": INIT, "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None}}


def batchnorm(name, src):
    z = {"class_name": "Zeros", "config": {}}
    o = {"class_name": "Ones", "config": {}}
    return {"name": name, "class_name": "BatchNormalization", "inbound_nodes": node(src), "config": {
        "name": name, "trainable": True, "dtype": "float32", "axis": -1, "momentum": 0.99, "epsilon": 0.001,
        "center": True, "scale": True, "beta_initializer": z, "gamma_initializer": o, "moving_mean_initializer": z,
        "moving_variance_initializer": o, "beta_regularizer": None, "gamma_regularizer": None,
        "beta_constraint": None, "gamma_constraint": None}}


def activation(name, fn, src):
    return {"name": name, "class_name": "Activation", "inbound_nodes": node(src),
            "config": {"name": name, "trainable": True, "dtype": "float32", "activation": fn}}


def merge(name, kind, *srcs):
    cfg = {"name": name, "trainable": True, "dtype": "float32"}
    if kind == "Concatenate":
        cfg["axis"] = -1
    return {"name": name, "class_name": kind, "inbound_nodes": node(*srcs), "config": cfg}


def write(path, name, layers, out, weights):
    model_config = {"class_name": "Model", "config": {"name": name, "layers": layers,
                                                      "input_layers": [[layers[0]["name"], 0, 0]],
                                                      "output_layers": [[out, 0, 0]]}}
    write_model(os.path.join(here, path), model_config, [l["name"] for l in layers], weights)


def dense_weights(n_in, n_out):
    return {"kernel": rng.normal(size=(n_in, n_out)).astype(np.float32), "bias": rng.normal(size=(n_out,)).astype(np.float32)}


def bn_weights(n):
    return {"gamma": (0.5 + rng.random(n)).astype(np.float32), "beta": rng.normal(scale=0.3, size=n).astype(np.float32),
            "moving_mean": rng.normal(scale=0.5, size=n).astype(np.float32),
            "moving_variance": (0.3 + rng.random(n)).astype(np.float32)}


def bn(x, w):
    return w["gamma"] * (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + 0.001) + w["beta"]


def softmax(z):
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


chain = {"hidden": dense_weights(6, 5), "bn": bn_weights(5), "out": dense_weights(5, 3)}
write("functional-chain.h5", "chain", [input_layer("input_1", 6), dense("hidden", 5, "linear", "input_1"),
                                       batchnorm("bn", "hidden"), activation("relu", "relu", "bn"),
                                       dense("out", 3, "softmax", "relu")], "out", chain)
x = rng.normal(size=(8, 6)).astype(np.float32)
h = np.maximum(bn(x @ chain["hidden"]["kernel"] + chain["hidden"]["bias"], chain["bn"]), 0)
p = softmax(h @ chain["out"]["kernel"] + chain["out"]["bias"])
with open(os.path.join(here, "functional-chain-expected.json"), "w") as f:
    json.dump({"inputs": x.tolist(), "outputs": p.tolist()}, f, indent=1)

res = {"d1": dense_weights(6, 6), "d2": dense_weights(6, 6), "bn2": bn_weights(6), "left": dense_weights(6, 4),
       "right": dense_weights(6, 2), "out": dense_weights(6, 3)}
write("functional-residual.h5", "residual", [
    input_layer("input_1", 6), dense("d1", 6, "relu", "input_1"), dense("d2", 6, "linear", "d1"), batchnorm("bn2", "d2"),
    merge("add", "Add", "d1", "bn2"), dense("left", 4, "relu", "add"), dense("right", 2, "relu", "add"),
    merge("concat", "Concatenate", "left", "right"), dense("out", 3, "softmax", "concat")], "out", res)
x = rng.normal(size=(8, 6)).astype(np.float32)
d1 = np.maximum(x @ res["d1"]["kernel"] + res["d1"]["bias"], 0)
add = d1 + bn(d1 @ res["d2"]["kernel"] + res["d2"]["bias"], res["bn2"])
concat = np.concatenate([np.maximum(add @ res[k]["kernel"] + res[k]["bias"], 0) for k in ("left", "right")], axis=1)
p = softmax(concat @ res["out"]["kernel"] + res["out"]["bias"])
with open(os.path.join(here, "functional-residual-expected.json"), "w") as f:
    json.dump({"inputs": x.tolist(), "outputs": p.tolist()}, f, indent=1)
print("wrote functional-chain.h5, functional-chain-expected.json, functional-residual.h5 and functional-residual-expected.json")
