/**
 * Quantization: PyTorch-exact qparams and observers, quantized tensor codecs (int8, int4, fp16), the quantization
 * config and plan, and a runtime that executes a quantized network in float, fake-quant or integer arithmetic
 * (int8 × int8 → int32, requantized per output channel). Quantization-aware training plugs into DL4J through a
 * fake-quantized activation and a weight-noise hook with straight-through gradients.
 *
 * <p>Calibration for static quantization lives here too: mergeable statistics of every activation tensor
 * ({@link io.squeeze.quantize.Calibration}: min/max, fixed-edge histograms, relative-error quantile sketches)
 * collected in one or two passes over calibration data, and each {@link io.squeeze.quantize.Observer}'s range
 * choice from them (min/max, PyTorch's histogram L2 search, percentiles, TensorRT's entropy). Pure kernels;
 * {@code io.squeeze.spark.QuantizeJob} runs them on executors.
 */
package io.squeeze.quantize;
