#!/usr/bin/env python3
"""Writes keras-cnn.h5, a Keras 2 (TensorFlow backend) HDF5 Sequential CNN in Keras' default channels_last layout,
with h5py alone (Keras not needed), and keras-cnn-expected.json: inputs (flattened height, width, channel) and the
softmax outputs NumPy computes for them, for the import tests; keras-cnn-rgb.h5, the same network on 8x8x3 inputs
(its first kernel redrawn) and keras-cnn-rgb-expected.json, its inputs — flattened (height, width, channel), as a
Keras user's arrays are — and outputs; and keras-cnn-functional.h5, keras-cnn.h5's network and weights written with
the functional API (the same expected outputs).
Model: input 8x8x1 -> Conv2D(4, 3x3, valid, relu) -> MaxPooling2D(2x2) -> Conv2D(3, 2x2, valid, relu) -> Flatten
       -> Dense(5, relu) -> Dense(3, softmax); the Flatten orders its 2x2x3 features (height, width, channel).
Run: /usr/bin/python3 make_keras_cnn_h5.py   (Debian: apt-get install python3-h5py)"""
import json
import os

import numpy as np

from keras_h5 import write_model

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(11)
INIT = {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
ZEROS = {"class_name": "Zeros", "config": {}}
# Keras kernels: Conv2D (kh, kw, in, out), Dense (in, out)
weights = {
    "conv_1": (rng.normal(size=(3, 3, 1, 4)).astype(np.float32), rng.normal(size=(4,)).astype(np.float32) * 0.1),
    "conv_2": (rng.normal(size=(2, 2, 4, 3)).astype(np.float32) * 0.5, rng.normal(size=(3,)).astype(np.float32) * 0.1),
    "dense_1": (rng.normal(size=(12, 5)).astype(np.float32) * 0.5, rng.normal(size=(5,)).astype(np.float32) * 0.1),
    "dense_2": (rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(3,)).astype(np.float32) * 0.1),
}


def common(name):
    return {"name": name, "trainable": True, "dtype": "float32"}


def conv(name, filters, k, batch_input_shape=None):
    cfg = dict(common(name), filters=filters, kernel_size=[k, k], strides=[1, 1], padding="valid",
               data_format="channels_last", dilation_rate=[1, 1], activation="relu", use_bias=True,
               kernel_initializer=INIT, bias_initializer=ZEROS, kernel_regularizer=None, bias_regularizer=None,
               activity_regularizer=None, kernel_constraint=None, bias_constraint=None)
    if batch_input_shape:
        cfg["batch_input_shape"] = batch_input_shape
    return {"class_name": "Conv2D", "config": cfg}


def dense(name, units, activation):
    return {"class_name": "Dense", "config": dict(common(name), units=units, activation=activation, use_bias=True,
                                                  kernel_initializer=INIT, bias_initializer=ZEROS, kernel_regularizer=None,
                                                  bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                                                  bias_constraint=None)}


def layers_for(channels):
    return [conv("conv_1", 4, 3, [None, 8, 8, channels]),
            {"class_name": "MaxPooling2D", "config": dict(common("pool_1"), pool_size=[2, 2], padding="valid", strides=[2, 2],
                                                          data_format="channels_last")},
            conv("conv_2", 3, 2),
            {"class_name": "Flatten", "config": dict(common("flatten_1"), data_format="channels_last")},
            dense("dense_1", 5, "relu"), dense("dense_2", 3, "softmax")]


def write(path, channels, weights):
    layers = layers_for(channels)
    model_config = {"class_name": "Sequential", "config": {"name": "sequential_cnn", "layers": layers}}
    named = {name: {"kernel": k, "bias": b} for name, (k, b) in weights.items()}
    write_model(os.path.join(here, path), model_config, [l["config"]["name"] for l in layers], named)


def functional_config(layers):
    """The same chain written with the functional API: an InputLayer, then each layer fed by the one before."""
    shape = layers[0]["config"]["batch_input_shape"]
    out = [{"name": "input_1", "class_name": "InputLayer", "inbound_nodes": [],
            "config": {"batch_input_shape": shape, "dtype": "float32", "sparse": False, "name": "input_1"}}]
    for l in layers:
        cfg = {k: v for k, v in l["config"].items() if k != "batch_input_shape"}
        out.append({"name": cfg["name"], "class_name": l["class_name"], "inbound_nodes": [[[out[-1]["name"], 0, 0, {}]]], "config": cfg})
    return {"class_name": "Model", "config": {"name": "functional_cnn", "layers": out, "input_layers": [["input_1", 0, 0]],
                                              "output_layers": [[out[-1]["name"], 0, 0]]}}


write("keras-cnn.h5", 1, weights)
named_weights = {name: {"kernel": k, "bias": b} for name, (k, b) in weights.items()}
functional = functional_config(layers_for(1))
write_model(os.path.join(here, "keras-cnn-functional.h5"), functional, [l["name"] for l in functional["config"]["layers"]], named_weights)
rgb = dict(weights)
rgb["conv_1"] = (rng.normal(size=(3, 3, 3, 4)).astype(np.float32), weights["conv_1"][1])
write("keras-cnn-rgb.h5", 3, rgb)


def conv2d(x, k, b):  # x (n, h, w, c), k (kh, kw, c, o), valid, stride 1
    n, h, w, _ = x.shape
    kh, kw, _, o = k.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, o), dtype=np.float64)
    for i in range(h - kh + 1):
        for j in range(w - kw + 1):
            out[:, i, j, :] = np.tensordot(x[:, i:i + kh, j:j + kw, :], k, axes=([1, 2, 3], [0, 1, 2]))
    return np.maximum(out + b, 0)


def maxpool(x):  # 2x2, stride 2
    n, h, w, c = x.shape
    return x[:, :h // 2 * 2, :w // 2 * 2, :].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


x = rng.normal(size=(6, 8, 8, 1)).astype(np.float32)


def forward(x, weights):
    a = conv2d(x.astype(np.float64), *weights["conv_1"])
    a = maxpool(a)
    a = conv2d(a, *weights["conv_2"])
    a = a.reshape(a.shape[0], -1)  # (height, width, channel) order, as Keras' Flatten
    a = np.maximum(a @ weights["dense_1"][0] + weights["dense_1"][1], 0)
    z = a @ weights["dense_2"][0] + weights["dense_2"][1]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


with open(os.path.join(here, "keras-cnn-expected.json"), "w") as f:
    json.dump({"inputs": x.reshape(6, -1).tolist(), "outputs": forward(x, weights).tolist()}, f, indent=1)
x = rng.normal(size=(6, 8, 8, 3)).astype(np.float32)
with open(os.path.join(here, "keras-cnn-rgb-expected.json"), "w") as f:
    json.dump({"inputs": x.reshape(6, -1).tolist(), "outputs": forward(x, rgb).tolist()}, f, indent=1)
print("wrote keras-cnn.h5, keras-cnn-rgb.h5, keras-cnn-functional.h5, keras-cnn-expected.json and keras-cnn-rgb-expected.json")
