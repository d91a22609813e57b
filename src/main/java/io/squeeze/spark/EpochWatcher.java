package io.squeeze.spark;

/**
 * What runs after each epoch and only reads the network (validation, a report): training on Spark then runs several
 * short epochs in one barrier stage, each about {@link LocalSgd#STAGE_SECONDS} long at most (the first epoch alone),
 * and after the stage calls this for each of its epochs in turn, the network set to that epoch's weights (when this
 * reads it, {@link #readsNetwork}), with the epoch's progress line printed just before. The weights are those of one stage an epoch. A hook that changes the
 * network or its configuration between epochs (a learning-rate step, QAT's re-calibration) is a plain
 * {@link java.util.function.BiConsumer}: every epoch is then a stage of its own, and the hook's changes reach the next.
 */
public interface EpochWatcher<N> extends java.util.function.BiConsumer<Integer, N> {
    /** The epoch's wall time as its progress line gives it (its share of its stage's), just before {@link #accept}. */
    default void seconds(int epoch, double seconds) {
    }

    /**
     * Whether {@link #accept} reads the network. When it does not, a stage of several epochs returns only its last
     * epoch's state to the driver, and {@link #accept} gets the network as the driver holds it: before the stage's
     * last epoch, with the weights of the stage's start.
     */
    default boolean readsNetwork() {
        return true;
    }

    /** Nothing after each epoch. */
    static <N> EpochWatcher<N> none() {
        return new EpochWatcher<>() {
            @Override
            public void accept(Integer epoch, N net) {
            }

            @Override
            public boolean readsNetwork() {
                return false;
            }
        };
    }

    /**
     * {@code then} given {@code view} of the network after each epoch (a merged copy, the student of a hint graph):
     * an EpochWatcher when {@code then} is one, for a {@code view} that only reads the network, with its
     * {@link #seconds} and {@link #readsNetwork}; {@code view} is not taken for one that does not read the network.
     */
    static <A, B> java.util.function.BiConsumer<Integer, B> through(java.util.function.BiConsumer<Integer, A> then,
                                                                   java.util.function.Function<B, A> view) {
        if (!(then instanceof EpochWatcher<A> w)) return (e, n) -> then.accept(e, view.apply(n));
        return new EpochWatcher<B>() {
            @Override
            public void seconds(int epoch, double seconds) {
                w.seconds(epoch, seconds);
            }

            @Override
            public boolean readsNetwork() {
                return w.readsNetwork();
            }

            @Override
            public void accept(Integer epoch, B net) {
                w.accept(epoch, w.readsNetwork() ? view.apply(net) : null);
            }
        };
    }
}
