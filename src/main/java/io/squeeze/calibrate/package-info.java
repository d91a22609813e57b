/**
 * Calibration for static quantization: mergeable statistics of every activation tensor (min/max, fixed-edge
 * histograms, relative-error quantile sketches) collected in one or two passes over calibration data, and the
 * range choices made from them (min/max, PyTorch's histogram L2 search, percentiles, TensorRT's entropy).
 * Pure kernels; {@code io.squeeze.spark.QuantizeJob} runs them on executors.
 */
package io.squeeze.calibrate;
