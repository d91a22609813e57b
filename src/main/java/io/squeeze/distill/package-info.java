/**
 * Knowledge distillation: the KD loss of Hinton et al. 2015 (a pure kernel and its DL4J loss function) and the
 * teachers that label data with logits — DL4J networks and ONNX models run with ONNX Runtime. The Spark jobs
 * ({@code SoftTargetsJob}, {@code DistillJob}) stream data through them.
 */
package io.squeeze.distill;
