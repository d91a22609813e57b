/**
 * Per-layer sensitivity analysis and the allocations solved from it (a technique layer): {@link io.squeeze.search.Probe}
 * compresses one layer at one level with the kernels of prune, quantize and lowrank; {@link io.squeeze.search.Sensitivity}
 * holds the measured curves; {@link io.squeeze.search.Allocation} chooses a level per layer under a budget.
 */
package io.squeeze.search;
