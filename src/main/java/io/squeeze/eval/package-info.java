/**
 * Evaluation: the batched inference kernel, mergeable classification metrics and the report written by
 * {@code squeeze evaluate}. Pure of Spark; {@code io.squeeze.spark.SparkEvaluator} runs it per partition.
 */
package io.squeeze.eval;
