package io.squeeze.spark;

import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import io.squeeze.data.Example;
import io.squeeze.model.GraphMasks;
import io.squeeze.model.LayerSupport;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.SourceKind;
import io.squeeze.model.Surgery;
import io.squeeze.prune.Amount;
import io.squeeze.prune.L1Unstructured;
import io.squeeze.prune.Pruner;
import io.squeeze.prune.Target;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiConsumer;

/**
 * The rounds of {@link LotteryJob} (Frankle and Carbin 2019, iterative magnitude pruning with rewinding; late
 * rewinding after Frankle et al. 2019), written once for both network kinds through {@link Nets}: a layer stack
 * ({@link #STACK}) or a branching graph such as {@code resnet:N} ({@link #graph}). Each round trains from the rewind
 * point with the masks enforced after every update (the masks travel to the executors in the configuration), then
 * prunes {@code rate} of the remaining weights of every weighted layer by magnitude ({@code outputRate} for the
 * output layer); the control retrains each round's masks from a fresh initialisation seeded per round.
 */
final class LotteryRounds {
    private LotteryRounds() {}

    /** What the procedure needs of a network kind. */
    interface Nets<N> {
        /** A network initialised from the configuration, every layer seeded with {@code seed} (null: the configuration's seeds). */
        N fresh(Long seed);

        N copy(N n);

        /** Zeroes the pruned entries, in place. */
        void apply(N n, Map<TensorKey, Mask> masks);

        /** Trains with the masks enforced after every update; returns a network without constraints whose pruned entries are zero. */
        N train(JavaSparkContext jsc, SparkTrainer.TrainingData rows, N start, Map<TensorKey, Mask> masks, ModelMeta meta, SparkTrainer.Config tc,
                String where, PrintWriter progress, BiConsumer<Integer, N> afterEpoch);

        LoadedModel loaded(N n, ModelMeta meta, String what);

        /** The layers with parameters (their index is a tensor key's layer). */
        org.deeplearning4j.nn.api.Layer[] layers(N n);

        /** The index in {@link #layers} of the output layer. */
        int outputLayer(N n);
    }

    /** Layer stacks. */
    static Nets<MultiLayerNetwork> stack(MultiLayerConfiguration conf) {
        return new Nets<>() {
            public MultiLayerNetwork fresh(Long seed) {
                MultiLayerConfiguration c = conf.clone();
                if (seed != null) c.getConfs().forEach(x -> x.setSeed(seed));
                MultiLayerNetwork n = new MultiLayerNetwork(c);
                n.init();
                return n;
            }

            public MultiLayerNetwork copy(MultiLayerNetwork n) {
                return n.clone();
            }

            public void apply(MultiLayerNetwork n, Map<TensorKey, Mask> masks) {
                Surgery.applyMasks(n, masks);
            }

            public MultiLayerNetwork train(JavaSparkContext jsc, SparkTrainer.TrainingData rows, MultiLayerNetwork start, Map<TensorKey, Mask> masks, ModelMeta meta,
                                           SparkTrainer.Config tc, String where, PrintWriter progress, BiConsumer<Integer, MultiLayerNetwork> afterEpoch) {
                MultiLayerNetwork constrained = masks.isEmpty() ? start : Surgery.withMaskConstraints(start, masks);
                MultiLayerNetwork out = SparkTrainer.train(jsc, rows, constrained, tc, where, progress, afterEpoch);
                MultiLayerNetwork clean = masks.isEmpty() ? out : Surgery.withoutMaskConstraints(out);
                Surgery.applyMasks(clean, masks);
                return clean;
            }

            public LoadedModel loaded(MultiLayerNetwork n, ModelMeta meta, String what) {
                return new LoadedModel(n.clone(), meta, "", what, SourceKind.DL4J_ZIP, 0);
            }

            public org.deeplearning4j.nn.api.Layer[] layers(MultiLayerNetwork n) {
                return n.getLayers();
            }

            public int outputLayer(MultiLayerNetwork n) {
                return n.getnLayers() - 1;
            }
        };
    }

    /** Branching graphs (the tensor keys' layers are {@link ComputationGraph#getLayers()} indices). */
    static Nets<ComputationGraph> graph(ComputationGraphConfiguration conf) {
        return new Nets<>() {
            public ComputationGraph fresh(Long seed) {
                ComputationGraphConfiguration c = conf.clone();
                if (seed != null) io.squeeze.model.Graphs.seed(c, seed);
                ComputationGraph g = new ComputationGraph(c);
                g.init();
                return g;
            }

            public ComputationGraph copy(ComputationGraph g) {
                return g.clone();
            }

            public void apply(ComputationGraph g, Map<TensorKey, Mask> masks) {
                GraphMasks.apply(g, masks);
            }

            public ComputationGraph train(JavaSparkContext jsc, SparkTrainer.TrainingData rows, ComputationGraph start, Map<TensorKey, Mask> masks, ModelMeta meta,
                                          SparkTrainer.Config tc, String where, PrintWriter progress, BiConsumer<Integer, ComputationGraph> afterEpoch) {
                ComputationGraph constrained = masks.isEmpty() ? start : GraphMasks.withMaskConstraints(start, masks);
                ComputationGraph out = SparkTrainer.trainGraph(jsc, rows, constrained, tc, where, progress, afterEpoch);
                ComputationGraph clean = masks.isEmpty() ? out : GraphMasks.withMaskConstraints(out, Map.of());
                GraphMasks.apply(clean, masks);
                return clean;
            }

            public LoadedModel loaded(ComputationGraph g, ModelMeta meta, String what) {
                return LoadedModel.ofGraph(g.clone(), meta, "", what, SourceKind.DL4J_ZIP, 0);
            }

            public org.deeplearning4j.nn.api.Layer[] layers(ComputationGraph g) {
                return g.getLayers();
            }

            public int outputLayer(ComputationGraph g) {
                return GraphMasks.names(g).indexOf(g.getConfiguration().getNetworkOutputs().get(0));
            }
        };
    }

    /** The final ticket, its masks, the table and every round's trained network. */
    record Outcome<N>(N ticket, Map<TensorKey, Mask> masks, List<LotteryJob.Row> rows, List<N> perRound) {}

    static <N> Outcome<N> run(Nets<N> nets, JavaSparkContext jsc, JavaRDD<Example> rows, JavaRDD<Example> test, ModelMeta meta,
                              SparkTrainer.Config tc, LotteryJob.Rounds lc, PrintWriter progress) {
        // every training of the run fits the same minibatches: made once and cached on the executors
        try (SparkTrainer.TrainingData train = SparkTrainer.batches(jsc, rows, meta.numFeatures(), meta.numClasses(), tc, "lottery")) {
            return train.succeeded(run(nets, jsc, train, rows.count(), test, meta, tc, lc, progress));
        }
    }

    private static <N> Outcome<N> run(Nets<N> nets, JavaSparkContext jsc, SparkTrainer.TrainingData train, long trainRows, JavaRDD<Example> test,
                                      ModelMeta meta, SparkTrainer.Config tc, LotteryJob.Rounds lc, PrintWriter progress) {
        JavaRDD<Example> testCached = test.persist(StorageLevel.MEMORY_ONLY());
        long itersPerEpoch = (trainRows + tc.batchSize() - 1) / tc.batchSize();
        N init = nets.fresh(null);
        N rewindPoint = nets.copy(init);
        if (lc.rewindEpochs() > 0) {
            progress.printf("lottery: late rewinding point: %d epoch(s) of dense training%n", lc.rewindEpochs());
            rewindPoint = nets.copy(nets.train(jsc, train, nets.copy(init), Map.of(), meta, tc.epochs(lc.rewindEpochs(), tc.seed()), "rewind",
                    progress, EpochWatcher.none()));
        }
        List<LotteryJob.Row> rows = new ArrayList<>();
        List<N> perRound = new ArrayList<>();
        Map<TensorKey, Mask> masks = new TreeMap<>();
        long total = targets(nets, init, masks, lc).stream().mapToLong(Target::size).sum(); // what each round prunes among
        N trained = null;
        for (int round = 0; round <= lc.rounds(); round++) {
            if (round > 0) masks = pruneRound(nets, trained, masks, lc);
            long kept = total - masks.values().stream().mapToLong(Mask::prunedCount).sum();
            double remaining = (double) kept / total;
            progress.printf("lottery: round %d/%d, %.1f%% of weights remain%n", round, lc.rounds(), 100 * remaining);
            progress.flush();
            N start = nets.copy(rewindPoint);
            nets.apply(start, masks);
            Trained<N> t = trainAndTrack(nets, jsc, train, testCached, start, masks, meta, tc, progress);
            rows.add(new LotteryJob.Row(round, "ticket", remaining, t.accuracy, t.loss, t.bestEpoch, t.bestEpoch * itersPerEpoch));
            trained = t.net;
            perRound.add(t.net);
            if (lc.control() && round > 0) {
                N fresh = nets.fresh(lc.controlSeed() + 7919L * round);
                nets.apply(fresh, masks);
                Trained<N> c = trainAndTrack(nets, jsc, train, testCached, fresh, masks, meta, tc, progress);
                rows.add(new LotteryJob.Row(round, "random-reinit", remaining, c.accuracy, c.loss, c.bestEpoch, c.bestEpoch * itersPerEpoch));
            }
        }
        testCached.unpersist(false);
        return new Outcome<>(trained, masks, rows, perRound);
    }

    /** Every weight tensor of every layer, at {@code rate} ({@code outputRate} for the output layer), with its current mask. */
    static <N> List<Target> targets(Nets<N> nets, N trained, Map<TensorKey, Mask> masks, LotteryJob.Rounds lc) {
        List<Target> targets = new ArrayList<>();
        var layers = nets.layers(trained);
        int last = nets.outputLayer(trained);
        for (int i = 0; i < layers.length; i++) {
            var conf = layers[i].conf().getLayer();
            boolean conv = conf instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
            for (String param : LayerSupport.weightParams(conf)) {
                if (!layers[i].paramTable().containsKey(param)) continue;
                var w = layers[i].getParam(param);
                float[] v = w.dup('c').data().asFloat();
                targets.add(new Target(targets.size(), i, param, w.shape(), v, masks.getOrDefault(new TensorKey(i, param), Mask.all(v.length)),
                        Amount.fraction(i == last ? lc.outputRate() : lc.rate()), conv ? 0 : 1, conv ? 1 : 0));
            }
        }
        return targets;
    }

    /** Prunes the trained network's weights by magnitude per layer, among the remaining ones. */
    static <N> Map<TensorKey, Mask> pruneRound(Nets<N> nets, N trained, Map<TensorKey, Mask> masks, LotteryJob.Rounds lc) {
        List<Target> targets = targets(nets, trained, masks, lc);
        Map<Integer, Mask> fresh = Pruner.masks(targets, new L1Unstructured(), Amount.fraction(lc.rate()), io.squeeze.prune.Chunk.DEFAULT_SIZE);
        Map<TensorKey, Mask> out = new TreeMap<>();
        for (Target t : targets) out.put(t.key(), fresh.get(t.id()));
        return out;
    }

    private record Trained<N>(N net, double accuracy, double loss, int bestEpoch) {}

    private static <N> Trained<N> trainAndTrack(Nets<N> nets, JavaSparkContext jsc, SparkTrainer.TrainingData train, JavaRDD<Example> test, N start,
                                                Map<TensorKey, Mask> masks, ModelMeta meta, SparkTrainer.Config tc, PrintWriter progress) {
        double[] best = {Double.MAX_VALUE};
        int[] bestEpoch = {0};
        double[] last = new double[2];
        ModelMeta plain = new ModelMeta(meta.numFeatures(), meta.numClasses(), meta.inputShape(), null, meta.trainedOn()); // rows come normalized
        N out = nets.train(jsc, train, start, masks, meta, tc, "lottery", progress, (EpochWatcher<N>) (e, n) -> { // reads the network only
            var r = SparkEvaluator.evaluate(jsc, test, nets.loaded(n, plain, "epoch " + e), null, 256, "validation");
            last[0] = r.stats().accuracy();
            last[1] = r.stats().loss();
            if (r.stats().loss() < best[0]) {
                best[0] = r.stats().loss();
                bestEpoch[0] = e;
            }
            progress.printf("lottery:   epoch %d validation accuracy %.4f loss %.4f%n", e, last[0], last[1]);
        });
        return new Trained<>(out, last[0], last[1], bestEpoch[0]);
    }
}
