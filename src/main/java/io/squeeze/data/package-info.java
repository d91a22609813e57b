/**
 * Datasets: data URIs ({@code idx:}, {@code parquet:}, {@code csv:}, {@code libsvm:}), parsing kernels, the
 * normalization recorded with a model, and mergeable dataset statistics. Nothing here knows Spark.
 */
package io.squeeze.data;
