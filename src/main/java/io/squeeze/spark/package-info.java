/**
 * Thin Spark adapters: reading datasets into RDDs, distributed training (local SGD with periodic averaging) and
 * distributed evaluation, each running a pure kernel per partition and merging mergeable values.
 */
package io.squeeze.spark;
