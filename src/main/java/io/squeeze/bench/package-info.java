/**
 * {@code jobs/bench}: side-by-side benchmarks (Squeeze's distributed path against in-process and PyTorch baselines,
 * as ratios measured in one run), at the same level as {@code cli}; it uses the jobs, never the command line.
 */
package io.squeeze.bench;
