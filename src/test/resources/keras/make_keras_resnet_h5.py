#!/usr/bin/env python3
"""Writes keras-resnet-rgb.h5, a Keras 2 (TensorFlow backend) HDF5 functional-API CNN on 8x8x3 channels_last inputs
with h5py alone (Keras not needed), and keras-resnet-rgb-expected.json: inputs (flattened height, width, channel, as
a Keras user's arrays are) and the softmax outputs NumPy computes for them, for the import tests; and
keras-resnet-rgb-flatten.h5 / -expected.json, the same network ending in Flatten("flat") -> Dense(3, softmax, "out")
instead of the global average pooling (its own output kernel; the same inputs); and keras-padding-rgb.h5 / -expected.json:
Input(8, 8, 3) -> ZeroPadding2D(1, "pad") -> Conv2D(4, 3x3, valid, relu, "conv3"), beside Conv2D(4, 1x1, relu, "conv1") on the
input -> Add("sum") -> Cropping2D(((1, 0), (2, 1)), "crop") -> UpSampling2D(2, "up") -> GlobalAveragePooling2D("gap")
-> Dense(3, softmax, "out"): the layers whose channels_last layout must also be converted; and keras-concat-height.h5,
two 1x1 convolutions of the input concatenated along the height (axis 1), which Squeeze refuses.
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

pad_layers = [layers[0],
              layer("pad", "ZeroPadding2D", ["input_1"], padding=[[1, 1], [1, 1]], data_format="channels_last"),
              conv("conv3", 4, 3, "relu", "pad"), conv("conv1", 4, 1, "relu", "input_1"), layer("sum", "Add", ["conv3", "conv1"]),
              layer("crop", "Cropping2D", ["sum"], cropping=[[1, 0], [2, 1]], data_format="channels_last"),
              layer("up", "UpSampling2D", ["crop"], size=[2, 2], data_format="channels_last", interpolation="nearest"),
              layer("gap", "GlobalAveragePooling2D", ["up"], data_format="channels_last"),
              dict(layers[-1], inbound_nodes=node("gap"), config=dict(layers[-1]["config"], units=3))]
for l in pad_layers:  # "conv3" is a valid convolution after the explicit padding
    if l["name"] == "conv3":
        l["config"] = dict(l["config"], padding="valid")
pad_w = {"conv3": conv_weights(3, 3, 4), "conv1": conv_weights(1, 3, 4),
         "out": {"kernel": (rng.normal(size=(4, 3)) * 0.5).astype(np.float32), "bias": (rng.normal(size=(3,)) * 0.1).astype(np.float32)}}
write_model(os.path.join(here, "keras-padding-rgb.h5"), {"class_name": "Model", "config": dict(
    model_config["config"], name="padding_rgb", layers=pad_layers)}, [l["name"] for l in pad_layers], pad_w)
xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
k = pad_w["conv3"]["kernel"].astype(np.float64)
a = np.zeros((x.shape[0], 8, 8, 4))
for i in range(8):
    for j in range(8):
        a[:, i, j, :] = np.tensordot(xp[:, i:i + 3, j:j + 3, :], k, axes=([1, 2, 3], [0, 1, 2]))
a = relu(a + pad_w["conv3"]["bias"])
b = relu(np.tensordot(x.astype(np.float64), pad_w["conv1"]["kernel"][0, 0].astype(np.float64), axes=([3], [0])) + pad_w["conv1"]["bias"])
crop = (a + b)[:, 1:, 2:-1, :]  # 7 x 5
up = crop.repeat(2, axis=1).repeat(2, axis=2)
z = up.mean(axis=(1, 2)) @ pad_w["out"]["kernel"] + pad_w["out"]["bias"]
p = np.exp(z - z.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
with open(os.path.join(here, "keras-padding-rgb-expected.json"), "w") as f:
    json.dump({"inputs": x.reshape(6, -1).tolist(), "outputs": p.tolist()}, f, indent=1)

height_layers = [layers[0], conv("left", 4, 1, "relu", "input_1"), conv("right", 4, 1, "relu", "input_1"),
                 layer("concat", "Concatenate", ["left", "right"], axis=1),
                 layer("gap", "GlobalAveragePooling2D", ["concat"], data_format="channels_last"),
                 dict(layers[-1], inbound_nodes=node("gap"), config=dict(layers[-1]["config"], units=3))]
write_model(os.path.join(here, "keras-concat-height.h5"), {"class_name": "Model", "config": dict(
    model_config["config"], name="concat_height", layers=height_layers)}, [l["name"] for l in height_layers],
            {"left": conv_weights(1, 3, 4), "right": conv_weights(1, 3, 4),
             "out": {"kernel": rng.normal(size=(4, 3)).astype(np.float32), "bias": np.zeros(3, np.float32)}})
print("wrote keras-resnet-rgb.h5, keras-resnet-rgb-flatten.h5, keras-padding-rgb.h5, their -expected.json and keras-concat-height.h5")
