"""What the Keras 2 HDF5 generators of this directory share: writing a model file (TensorFlow backend, Keras 2.2.4
attributes) with h5py alone, Keras not needed."""
import json

import h5py

TRAINING_CONFIG = {"loss": "categorical_crossentropy", "metrics": ["accuracy"], "sample_weight_mode": None, "loss_weights": None,
                   "optimizer_config": {"class_name": "Adam", "config": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                                                                          "decay": 0.0, "epsilon": 1e-07, "amsgrad": False}}}


def write_model(path, model_config, layer_names, weights):
    """weights: layer name -> {weight name ("kernel", "bias", "gamma", ...): array}, in Keras' order; layers
    without weights get an empty weight_names list."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode()
        f.attrs["training_config"] = json.dumps(TRAINING_CONFIG).encode()
        mw = f.create_group("model_weights")
        mw.attrs["keras_version"] = b"2.2.4"
        mw.attrs["backend"] = b"tensorflow"
        mw.attrs["layer_names"] = [name.encode() for name in layer_names]
        for name in layer_names:
            g = mw.create_group(name)
            w = weights.get(name, {})
            g.attrs["weight_names"] = [f"{name}/{k}:0".encode() for k in w]
            if w:
                sub = g.create_group(name)
                for k, v in w.items():
                    sub.create_dataset(f"{k}:0", data=v)
