package io.squeeze.spark;

import io.squeeze.core.BadInputException;

/**
 * The fine-tuning a compressing command runs after it compresses (prune, factorize): data-parallel training on
 * Spark ({@link SparkTrainer}), masks enforced after every update where the model has any. Data and epochs come
 * together or not at all: data without epochs would record a fine-tuning that never ran.
 *
 * @param data   the training data URI, or null for no fine-tuning
 * @param epochs passes over the data, 0 with no data
 * @param batch  minibatch rows
 * @param lr     learning rate, or null for the model's own
 * @param syncEvery minibatches per worker between parameter averages ({@code --sync-every}); a manifest written before
 *               the option read back without it ran with {@link SparkTrainer#SYNC_EVERY_BEFORE_THE_OPTION}
 */
public record FineTune(String data, int epochs, int batch, Double lr, Integer syncEvery) {
    /** No fine-tuning. */
    public static final FineTune NONE = new FineTune(null, 0, 64, null, SparkTrainer.DEFAULT_SYNC_EVERY);

    public FineTune {
        syncEvery = SparkTrainer.syncEvery(syncEvery);
        if (epochs < 0) throw new BadInputException("--fine-tune-epochs must be >= 0, got " + epochs);
        if (epochs > 0 && data == null) throw new BadInputException("--fine-tune-epochs needs --fine-tune-data");
        if (epochs == 0 && data != null)
            throw new BadInputException("--fine-tune-data " + data + " needs --fine-tune-epochs E (E > 0); without it nothing would be fine-tuned");
        if (batch <= 0) throw new BadInputException("--batch must be > 0, got " + batch);
        if (lr != null && !(lr > 0 && Double.isFinite(lr))) throw new BadInputException("--fine-tune-lr must be a finite number > 0, got " + lr);
    }

    /** The training settings of this fine-tuning. */
    public SparkTrainer.Config training(long seed, boolean local) {
        return new SparkTrainer.Config(epochs, batch, syncEvery, seed, local);
    }

    /** Whether any fine-tuning runs. */
    public boolean runs() {
        return epochs > 0;
    }
}
