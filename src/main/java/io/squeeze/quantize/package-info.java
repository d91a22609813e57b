/**
 * Quantization kernels with the numerics of PyTorch 1.13's {@code torch.ao.quantization}: dtypes, scale/zero-point
 * computation, integer quantization with round-half-to-even and clamping, and mergeable range observers.
 * (The {@code quantize} command, calibration on Spark, QAT and integer-arithmetic evaluation are still to come.)
 */
package io.squeeze.quantize;
