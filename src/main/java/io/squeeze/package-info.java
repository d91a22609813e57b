/**
 * Squeeze: distributed compression of trained Deeplearning4j networks on Apache Spark.
 *
 * <p>Packages follow the pipeline: {@code data} (reading datasets), {@code model} (DL4J model I/O and surgery),
 * {@code artifact} (the compressed output), {@code eval} (metrics), {@code spark} (thin adapters that run the
 * pure kernels on executors), {@code cli} (the {@code squeeze} command), {@code bench} (the benchmark command).
 */
package io.squeeze;
