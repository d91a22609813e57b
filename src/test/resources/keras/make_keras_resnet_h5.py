#!/usr/bin/env python3
"""Writes keras-resnet-rgb.h5, a Keras 2 (TensorFlow backend) HDF5 functional-API CNN on 8x8x3 channels_last inputs
with h5py alone (Keras not needed), and keras-resnet-rgb-expected.json: inputs (flattened height, width, channel, as
a Keras user's arrays are) and the softmax outputs NumPy computes for them, for the import tests; and
keras-resnet-rgb-flatten.h5 / -expected.json, the same network ending in Flatten("flat") -> Dense(3, softmax, "out")
instead of the global average pooling (its own output kernel; the same inputs).
Model: Input(8, 8, 3) -> Conv2D(6, 3x3, same, "stem") -> BatchNormalization("stem_bn") -> Activation(relu, "stem_relu")
       -> Conv2D(6, 3x3, same, relu, "c1") -> Conv2D(6, 3x3, same, linear, "c2") -> BatchNormalization("c2_bn")
       -> Add([stem_relu, c2_bn], "add") -> Activation(relu, "add_relu")
       -> Conv2D(4, 1x1, relu, "left") and Conv2D(2, 3x3, same, relu, "right") -> Concatenate(axis -1, "concat")
       -> MaxPooling2D(2x2, "pool") -> GlobalAveragePooling2D("gap") -> Dense(3, softmax, "out")
a residual add, a channel concatenation, batch normalization, pooling in Keras' default channels_last layout.
Run: /usr/bin/python3 make_keras_resnet_h5.py   (Debian: apt-get install python3-h5py)"""
import json
import os

import numpy as np

from keras_h5 import write_model

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(23)
INIT = {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
ZEROS = {"class_name": "Zeros", "config": {}}
ONES = {"class_name": "Ones", "config": {}}


def node(*inputs):
    return [[[i, 0, 0, {}] for i in inputs]]


def layer(name, cls, srcs, **cfg):
    return {"name": name, "class_name": cls, "inbound_nodes": node(*srcs) if srcs else [],
            "config": dict({"name": name, "trainable": True, "dtype": "float32"}, **cfg)}


def conv(name, filters, k, activation, src):
    return layer(name, "Conv2D", [src], filters=filters, kernel_size=[k, k], strides=[1, 1], padding="same",
                 data_format="channels_last", dilation_rate=[1, 1], activation=activation, use_bias=True,
                 kernel_initializer=INIT, bias_initializer=ZEROS, kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None)


def batchnorm(name, src):
    return layer(name, "BatchNormalization", [src], axis=-1, momentum=0.99, epsilon=0.001, center=True, scale=True,
                 beta_initializer=ZEROS, gamma_initializer=ONES, moving_mean_initializer=ZEROS,
                 moving_variance_initializer=ONES, beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None)


layers = [
    {"name": "input_1", "class_name": "InputLayer", "inbound_nodes": [],
     "config": {"batch_input_shape": [None, 8, 8, 3], "dtype": "float32", "sparse": False, "name": "input_1"}},
    conv("stem", 6, 3, "linear", "input_1"), batchnorm("stem_bn", "stem"),
    layer("stem_relu", "Activation", ["stem_bn"], activation="relu"),
    conv("c1", 6, 3, "relu", "stem_relu"), conv("c2", 6, 3, "linear", "c1"), batchnorm("c2_bn", "c2"),
    layer("add", "Add", ["stem_relu", "c2_bn"]), layer("add_relu", "Activation", ["add"], activation="relu"),
    conv("left", 4, 1, "relu", "add_relu"), conv("right", 2, 3, "relu", "add_relu"),
    layer("concat", "Concatenate", ["left", "right"], axis=-1),
    layer("pool", "MaxPooling2D", ["concat"], pool_size=[2, 2], padding="valid", strides=[2, 2], data_format="channels_last"),
    layer("gap", "GlobalAveragePooling2D", ["pool"], data_format="channels_last"),
    layer("out", "Dense", ["gap"], units=3, activation="softmax", use_bias=True, kernel_initializer=INIT,
          bias_initializer=ZEROS, kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
          kernel_constraint=None, bias_constraint=None),
]


def conv_weights(k, c_in, c_out, scale=0.3):  # Keras kernel (kh, kw, in, out)
    return {"kernel": (rng.normal(size=(k, k, c_in, c_out)) * scale).astype(np.float32),
            "bias": (rng.normal(size=(c_out,)) * 0.1).astype(np.float32)}


def bn_weights(n):
    return {"gamma": (0.5 + rng.random(n)).astype(np.float32), "beta": rng.normal(scale=0.3, size=n).astype(np.float32),
            "moving_mean": rng.normal(scale=0.5, size=n).astype(np.float32),
            "moving_variance": (0.3 + rng.random(n)).astype(np.float32)}


w = {"stem": conv_weights(3, 3, 6), "stem_bn": bn_weights(6), "c1": conv_weights(3, 6, 6), "c2": conv_weights(3, 6, 6),
     "c2_bn": bn_weights(6), "left": conv_weights(1, 6, 4), "right": conv_weights(3, 6, 2),
     "out": {"kernel": (rng.normal(size=(6, 3)) * 0.3).astype(np.float32), "bias": (rng.normal(size=(3,)) * 0.1).astype(np.float32)}}
model_config = {"class_name": "Model", "config": {"name": "resnet_rgb", "layers": layers, "input_layers": [["input_1", 0, 0]],
                                                  "output_layers": [["out", 0, 0]]}}
write_model(os.path.join(here, "keras-resnet-rgb.h5"), model_config, [l["name"] for l in layers], w)


def conv2d(x, p):  # x (n, h, w, c), 'same' padding, stride 1
    k, b = p["kernel"].astype(np.float64), p["bias"]
    kh = k.shape[0]
    pad = kh // 2
    xp = np.pad(x, ((0, 0), (pad, kh - 1 - pad), (pad, kh - 1 - pad), (0, 0)))
    n, h, wd, _ = x.shape
    out = np.zeros((n, h, wd, k.shape[3]))
    for i in range(h):
        for j in range(wd):
            out[:, i, j, :] = np.tensordot(xp[:, i:i + kh, j:j + kh, :], k, axes=([1, 2, 3], [0, 1, 2]))
    return out + b


def bn(x, p):
    return p["gamma"] * (x - p["moving_mean"]) / np.sqrt(p["moving_variance"] + 0.001) + p["beta"]


relu = lambda a: np.maximum(a, 0)
x = rng.normal(size=(6, 8, 8, 3)).astype(np.float32)
stem = relu(bn(conv2d(x.astype(np.float64), w["stem"]), w["stem_bn"]))
add = relu(stem + bn(conv2d(relu(conv2d(stem, w["c1"])), w["c2"]), w["c2_bn"]))
cat = np.concatenate([relu(conv2d(add, w["left"])), relu(conv2d(add, w["right"]))], axis=3)
n, h, wd, c = cat.shape
pool = cat.reshape(n, h // 2, 2, wd // 2, 2, c).max(axis=(2, 4))
z = pool.mean(axis=(1, 2)) @ w["out"]["kernel"] + w["out"]["bias"]
p = np.exp(z - z.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
with open(os.path.join(here, "keras-resnet-rgb-expected.json"), "w") as f:
    json.dump({"inputs": x.reshape(6, -1).tolist(), "outputs": p.tolist()}, f, indent=1)

flat_layers = [l for l in layers if l["name"] not in ("gap", "out")] + [
    layer("flat", "Flatten", ["pool"], data_format="channels_last"), dict(layers[-1], inbound_nodes=node("flat"))]
flat_w = dict(w, out={"kernel": (rng.normal(size=(4 * 4 * 6, 3)) * 0.2).astype(np.float32), "bias": w["out"]["bias"]})
write_model(os.path.join(here, "keras-resnet-rgb-flatten.h5"), {"class_name": "Model", "config": dict(
    model_config["config"], name="resnet_rgb_flatten", layers=flat_layers)}, [l["name"] for l in flat_layers], flat_w)
z = pool.reshape(n, -1) @ flat_w["out"]["kernel"] + flat_w["out"]["bias"]  # (height, width, channel) order, as Keras' Flatten
p = np.exp(z - z.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
with open(os.path.join(here, "keras-resnet-rgb-flatten-expected.json"), "w") as f:
    json.dump({"inputs": x.reshape(6, -1).tolist(), "outputs": p.tolist()}, f, indent=1)
print("wrote keras-resnet-rgb.h5, keras-resnet-rgb-flatten.h5 and their -expected.json")
