package io.squeeze.cli;

import io.squeeze.spark.SparkTrainer;
import picocli.CommandLine.Option;

/** How often data-parallel training synchronises its workers: {@code --sync-every STEPS} of every training command. */
final class SyncOptions {
    @Option(names = {"--sync-every", "--averaging-frequency"}, paramLabel = "STEPS", defaultValue = "" + SparkTrainer.DEFAULT_SYNC_EVERY,
            description = "minibatches each worker fits between parameter averages (local SGD); fewer syncs run faster, see "
                    + "docs/BENCHMARKS.md for the accuracy trade-off (default: ${DEFAULT-VALUE})")
    int syncEvery;
}
