package io.squeeze.cli;

import io.squeeze.spark.FineTune;
import picocli.CommandLine.Option;

/** The fine-tuning options of the compressing commands (prune, factorize), as one validated {@link FineTune}. */
final class FineTuneOptions {
    @Option(names = "--fine-tune-data", paramLabel = "D", description = "fine-tune on this data (needs --fine-tune-epochs)")
    String data;

    @Option(names = "--fine-tune-epochs", defaultValue = "0", paramLabel = "E", description = "fine-tuning epochs (needs --fine-tune-data)")
    int epochs;

    @Option(names = "--fine-tune-lr", paramLabel = "LR", description = "learning rate for fine-tuning (default: the model's own)")
    Double lr;

    @Option(names = "--fine-tune-lr-decay", paramLabel = "G", description = "step decay: multiply the fine-tuning rate by G after every epoch (needs --fine-tune-lr)")
    Double lrDecay;

    @Option(names = "--batch", defaultValue = "64", description = "fine-tuning minibatch (default: ${DEFAULT-VALUE})")
    int batch;

    @picocli.CommandLine.Mixin
    SyncOptions sync;

    FineTune config() {
        return new FineTune(data, epochs, batch, lr, sync.syncEvery, lrDecay);
    }
}
