/**
 * Pruning kernels with the semantics of PyTorch's {@code torch.nn.utils.prune}: amounts, masks, importance
 * scores, exact k-selection over mergeable radix histograms, structured (Ln) pruning, layer selection.
 * Pure of Spark; {@code io.squeeze.spark.SparkPruner} runs them on executors.
 */
package io.squeeze.prune;
