/**
 * Quantization: PyTorch-exact qparams and observers, quantized tensor codecs (int8, int4, fp16), the quantization
 * config and plan, and a runtime that executes a quantized network in float, fake-quant or integer arithmetic
 * (int8 × int8 → int32, requantized per output channel). Quantization-aware training plugs into DL4J through a
 * fake-quantized activation and a weight-noise hook with straight-through gradients.
 */
package io.squeeze.quantize;
