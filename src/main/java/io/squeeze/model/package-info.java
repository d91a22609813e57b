/**
 * DL4J networks: loading and saving (DL4J zips with Squeeze's metadata, Keras .h5 import), the built-in
 * architectures, supported-layer checks, per-layer statistics and the broadcastable form used on executors; model
 * surgery (factorization, LoRA, fake quantization, hint graphs); and the ways Squeeze runs a network outside
 * DL4J's own forward pass ({@link io.squeeze.model.NetOps} as plain ops, {@link io.squeeze.model.DenseRuntime} for
 * dense stacks, {@link io.squeeze.model.Logits}). All DL4J serialization and configuration building lives here.
 */
package io.squeeze.model;
