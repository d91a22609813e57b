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
 * @param lrDecay step decay ({@code --fine-tune-lr-decay G}): epoch e runs at {@code lr·G^(e−1)}; null for a constant rate
 */
public record FineTune(String data, int epochs, int batch, Double lr, Integer syncEvery, Double lrDecay) {
    /** No fine-tuning. */
    public static final FineTune NONE = new FineTune(null, 0, 64, null, SparkTrainer.DEFAULT_SYNC_EVERY);

    /** A constant learning rate. */
    public FineTune(String data, int epochs, int batch, Double lr, Integer syncEvery) {
        this(data, epochs, batch, lr, syncEvery, null);
    }

    public FineTune {
        syncEvery = SparkTrainer.syncEvery(syncEvery);
        if (epochs < 0) throw new BadInputException("--fine-tune-epochs must be >= 0, got " + epochs);
        if (epochs > 0 && data == null) throw new BadInputException("--fine-tune-epochs needs --fine-tune-data");
        if (epochs == 0 && data != null)
            throw new BadInputException("--fine-tune-data " + data + " needs --fine-tune-epochs E (E > 0); without it nothing would be fine-tuned");
        if (batch <= 0) throw new BadInputException("--batch must be > 0, got " + batch);
        if (lr != null && !(lr > 0 && Double.isFinite(lr))) throw new BadInputException("--fine-tune-lr must be a finite number > 0, got " + lr);
        if (lrDecay != null && !(lrDecay > 0 && lrDecay <= 1)) throw new BadInputException("--fine-tune-lr-decay must be in (0, 1], got " + lrDecay);
        if (lrDecay != null && lr == null) throw new BadInputException("--fine-tune-lr-decay needs --fine-tune-lr (the first epoch's rate)");
        if (lrDecay != null && epochs == 0) throw new BadInputException("--fine-tune-lr-decay needs --fine-tune-data and --fine-tune-epochs");
    }

    /** {@code then} after every epoch, and then the next epoch's decayed rate set on the network ({@code set}). */
    public <N> java.util.function.BiConsumer<Integer, N> decaying(java.util.function.BiConsumer<Integer, N> then, java.util.function.ObjDoubleConsumer<N> set) {
        if (lrDecay == null) return then;
        return SparkTrainer.decaying(then, new io.squeeze.model.Architectures.Hyper(0, lr, 0, 0, 0, lrDecay), epochs, set);
    }

    /** The training settings of this fine-tuning. */
    public SparkTrainer.Config training(long seed, boolean local) {
        return new SparkTrainer.Config(epochs, batch, syncEvery, seed, local);
    }

    /**
     * Fine-tunes a graph after pruning or factorization on {@code split} of the data (the source's normalization
     * applied, {@code --fine-tune-lr} and its decay if given, per-epoch validation on {@code evalData}); no masks: a shrunk or
     * factorized graph trains as any graph. Returns {@code g} itself when nothing runs.
     */
    public org.deeplearning4j.nn.graph.ComputationGraph graph(org.apache.spark.sql.SparkSession spark, org.deeplearning4j.nn.graph.ComputationGraph g,
                                                              io.squeeze.model.LoadedModel source, io.squeeze.data.Split split, boolean local,
                                                              String evalData, java.io.PrintWriter progress) {
        return graph(spark, g, java.util.Map.of(), source, split, local, evalData, progress);
    }

    /**
     * As above with pruning {@code masks} enforced after every update ({@link io.squeeze.model.GraphMasks#withMaskConstraints});
     * the graph returned carries no constraint and every pruned weight is exactly zero.
     */
    public org.deeplearning4j.nn.graph.ComputationGraph graph(org.apache.spark.sql.SparkSession spark, org.deeplearning4j.nn.graph.ComputationGraph g,
                                                              java.util.Map<io.squeeze.core.TensorKey, io.squeeze.core.Mask> masks,
                                                              io.squeeze.model.LoadedModel source, io.squeeze.data.Split split, boolean local,
                                                              String evalData, java.io.PrintWriter progress) {
        return graph(spark, g, masks, java.util.Map.of(), source, split, local, evalData, progress);
    }

    /**
     * As above with weight-sharing ties ({@code codebooks}, by layer index and parameter) kept through the updates
     * too: each shared value trains by its cluster's summed gradient ({@link io.squeeze.model.TiedGradients}).
     */
    public org.deeplearning4j.nn.graph.ComputationGraph graph(org.apache.spark.sql.SparkSession spark, org.deeplearning4j.nn.graph.ComputationGraph g,
                                                              java.util.Map<io.squeeze.core.TensorKey, io.squeeze.core.Mask> masks,
                                                              java.util.Map<Integer, java.util.Map<String, io.squeeze.model.CodebookConstraint.Assignment>> codebooks,
                                                              io.squeeze.model.LoadedModel source, io.squeeze.data.Split split, boolean local,
                                                              String evalData, java.io.PrintWriter progress) {
        if (!runs()) return g;
        if (!masks.isEmpty() || !codebooks.isEmpty()) {
            var tuned = graph(spark, io.squeeze.model.GraphMasks.withConstraints(g, masks, codebooks), java.util.Map.of(), java.util.Map.of(), source, split,
                    local, evalData, progress);
            var clean = io.squeeze.model.GraphMasks.withConstraints(tuned, java.util.Map.of(), java.util.Map.of());
            io.squeeze.model.GraphMasks.apply(clean, masks);
            return clean;
        }
        if (lr != null) g.setLearningRate(lr);
        var spec = io.squeeze.data.DataSpec.parse(data, split == null ? io.squeeze.data.Split.TRAIN : split, false);
        var meta = source.meta();
        var rows = TrainJob.normalized(TrainJob.trainingData(spark, spec, meta, source.source()).rdd(), meta.normalizer());
        return SparkTrainer.trainGraph(SparkSessions.jsc(spark), rows, g, meta.numFeatures(), meta.numClasses(), training(0, local), spec.toString(),
                progress, decaying(Validation.afterGraph(spark, evalData, meta, progress), org.deeplearning4j.nn.graph.ComputationGraph::setLearningRate));
    }

    /** Whether any fine-tuning runs. */
    public boolean runs() {
        return epochs > 0;
    }
}
