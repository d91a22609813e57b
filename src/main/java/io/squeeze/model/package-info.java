/**
 * DL4J networks: loading and saving (DL4J zips with Squeeze's metadata, Keras .h5 import), the built-in
 * architectures, supported-layer checks, per-layer statistics and the broadcastable form used on executors.
 * All DL4J serialization and configuration building lives here.
 */
package io.squeeze.model;
