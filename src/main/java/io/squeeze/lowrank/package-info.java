/**
 * Low-rank factorization kernels: exact and randomized truncated SVD (LAPACK through ND4J), rank selection by
 * fixed rank, energy or a joint parameter budget, and per-layer factors. Pure of Spark;
 * {@code io.squeeze.spark.FactorizeJob} runs them on executors.
 */
package io.squeeze.lowrank;
