/**
 * Squeeze: distributed compression of trained Deeplearning4j networks on Apache Spark.
 *
 * <p>Packages form layers; each imports only from the layers below it, and no two packages reach each other
 * ({@code ArchitectureTest} fails the build otherwise; {@code docs/ARCHITECTURE.md} draws it):
 * <ol>
 *   <li>{@code cli} (the {@code squeeze} command) and {@code bench} (the benchmark command);</li>
 *   <li>{@code spark}: execution — jobs that run the kernels below locally or on executors;</li>
 *   <li>{@code artifact}: the compressed output (packed encodings, manifest, atomic publication);</li>
 *   <li>techniques: {@code prune}, {@code lowrank}, {@code quantize} (with calibration), {@code distill},
 *       {@code eval} — pure kernels, no Spark, no artifact;</li>
 *   <li>{@code model}: DL4J model I/O, surgery and runtimes;</li>
 *   <li>{@code data}: reading datasets;</li>
 *   <li>{@code core}: storage, masks, layer selection, errors.</li>
 * </ol>
 */
package io.squeeze;
