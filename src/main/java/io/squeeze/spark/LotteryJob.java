package io.squeeze.spark;

import io.squeeze.core.TensorKey;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Manifest;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Normalization;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import io.squeeze.prune.L1Unstructured;
import io.squeeze.data.Example;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.SourceKind;
import io.squeeze.model.Surgery;
import io.squeeze.prune.Amount;
import io.squeeze.core.Mask;
import io.squeeze.prune.Pruner;
import io.squeeze.prune.Target;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.PrintWriter;
import io.squeeze.model.LayerSupport;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Iterative magnitude pruning with rewinding — the lottery ticket procedure of Frankle and Carbin, "The Lottery
 * Ticket Hypothesis" (ICLR 2019), with late rewinding (Frankle et al., "Stabilizing the Lottery Ticket
 * Hypothesis", 2019): train; prune {@code rate} of the remaining weights of every layer ({@code outputRate} for
 * the output layer) by magnitude; reset the surviving weights to their values at initialisation (or after
 * {@code rewindEpochs} epochs); retrain with the masks enforced; repeat. The control retrains the same masks from
 * a fresh random initialisation. Training runs on Spark (parameter averaging); validation after every epoch.
 */
public final class LotteryJob {
    private LotteryJob() {}

    /**
     * {@code squeeze lottery} as a record, stored as the ticket's {@code config}: {@code squeeze rerun} of the ticket's
     * manifest runs the whole procedure again and writes the directory (ticket and table).
     *
     * @param data     the training data
     * @param testData the validation data evaluated after every epoch
     * @param arch     the architecture
     * @param normalize the feature transform fitted on the training data
     * @param hyper    seed, learning rate
     * @param training epochs per round, minibatch, averaging, in process or not
     * @param rounds   the pruning schedule
     */
    public record Config(DataSpec data, DataSpec testData, Arch arch, Normalization normalize, Architectures.Hyper hyper,
                         SparkTrainer.Config training, Rounds rounds) implements JobConfig {
        public Config {
            if (data == null || testData == null) throw new io.squeeze.core.BadInputException("lottery needs --data and --test-data");
            if (arch == null) throw new io.squeeze.core.BadInputException("--arch must be given (mlp:300,100, lenet5 or a DL4J JSON file)");
            if (normalize == null) normalize = Normalization.NONE;
            if (hyper == null || training == null || rounds == null) throw new io.squeeze.core.BadInputException("lottery needs its settings");
        }

        @Override
        public String source() {
            return data.uri();
        }

        @Override
        public List<String> inputs() {
            return List.of(data.path(), testData.path());
        }

        @Override
        public ArtifactWriter.Content run(SparkSession spark, String out, List<String> argv, PrintWriter progress) {
            TrainJob.Prepared p = TrainJob.prepare(spark, data, arch, normalize, hyper, progress);
            ModelMeta meta = p.meta();
            SparkData.Loaded te = SparkData.read(spark, testData, meta.numFeatures(), "the training data");
            Result r = LotteryJob.run(SparkSessions.jsc(spark), p.rows(), TrainJob.normalized(te.rdd(), meta.normalizer()), p.conf(), meta,
                    training, rounds, progress);
            return new ArtifactWriter.Content(r.ticket(), meta, new ArtifactWriter.Provenance(source(), "", argv, Jobs.toMap(this)), Map.of(),
                    Map.of("lottery", r.rows()), r.masks());
        }

        /** The ticket (an artifact) and {@code lottery.json} (the table), together or not at all; returns the ticket's manifest. */
        @Override
        public Manifest publish(Storage st, String out, boolean overwrite, ArtifactWriter.Content c, boolean dl4jZip) {
            Manifest[] ticket = new Manifest[1];
            st.publish(st.path(out), overwrite, tmp -> {
                ticket[0] = ArtifactWriter.write(st, new Path(tmp, "ticket").toString(), false, c, dl4jZip);
                st.write(new Path(tmp, "lottery.json"), io.squeeze.model.Json.bytes(c.metrics().get("lottery")));
            });
            return ticket[0];
        }
    }

    /** The pruning schedule. */
    public record Rounds(int rounds, double rate, double outputRate, int rewindEpochs, boolean control, long controlSeed) {
        public Rounds {
            if (rounds <= 0) throw new io.squeeze.core.BadInputException("--rounds must be > 0, got " + rounds);
            if (!(rate >= 0 && rate <= 1)) throw new io.squeeze.core.BadInputException("lottery.rate must be in [0,1], got " + rate);
            if (!(outputRate >= 0 && outputRate <= 1))
                throw new io.squeeze.core.BadInputException("lottery.output-rate must be in [0,1], got " + outputRate);
            if (rewindEpochs < 0) throw new io.squeeze.core.BadInputException("--rewind-epoch must be >= 0, got " + rewindEpochs);
        }
    }

    /** One row of the table. */
    public record Row(int round, String run, double weightsRemaining, double testAccuracy, double testLoss,
                      int bestEpoch, @com.fasterxml.jackson.annotation.JsonProperty("iterations_to_best_validation_loss") long iterationsToBest) {}

    /** The final ticket, its masks and the table. */
    public record Result(MultiLayerNetwork ticket, Map<TensorKey, Mask> masks, List<Row> rows, List<MultiLayerNetwork> perRound) {}

    public static Result run(JavaSparkContext jsc, JavaRDD<Example> train, JavaRDD<Example> test, MultiLayerConfiguration conf,
                             ModelMeta meta, SparkTrainer.Config tc, Rounds lc, PrintWriter progress) {
        int nf = meta.numFeatures(), k = meta.numClasses();
        JavaRDD<Example> testCached = test.persist(StorageLevel.MEMORY_ONLY());
        long trainRows = train.count();
        long itersPerEpoch = (trainRows + tc.batchSize() - 1) / tc.batchSize();
        MultiLayerNetwork init = new MultiLayerNetwork(conf.clone());
        init.init();
        MultiLayerNetwork rewindPoint = init.clone();
        if (lc.rewindEpochs() > 0) {
            progress.printf("lottery: late rewinding point: %d epoch(s) of dense training%n", lc.rewindEpochs());
            rewindPoint = SparkTrainer.train(jsc, train, init.clone(), nf, k, tc.epochs(lc.rewindEpochs(), tc.seed()),
                    "rewind", progress).clone();
        }
        List<Row> rows = new ArrayList<>();
        List<MultiLayerNetwork> perRound = new ArrayList<>();
        Map<TensorKey, Mask> masks = new TreeMap<>();
        long total = 0;
        for (int i = 0; i < init.getnLayers(); i++) // what pruneRound prunes
            for (String param : LayerSupport.weightParams(init.getLayer(i).conf().getLayer()))
                if (init.getLayer(i).getParam(param) != null) total += init.getLayer(i).getParam(param).length();
        MultiLayerNetwork trained = null;
        for (int round = 0; round <= lc.rounds(); round++) {
            if (round > 0) masks = pruneRound(trained, masks, lc);
            long kept = total - masks.values().stream().mapToLong(Mask::prunedCount).sum();
            double remaining = (double) kept / total;
            progress.printf("lottery: round %d/%d, %.1f%% of weights remain%n", round, lc.rounds(), 100 * remaining);
            progress.flush();
            MultiLayerNetwork start = rewindPoint.clone();
            Surgery.applyMasks(start, masks);
            Trained t = trainAndTrack(jsc, train, testCached, start, masks, meta, tc, itersPerEpoch, progress);
            rows.add(new Row(round, "ticket", remaining, t.accuracy, t.loss, t.bestEpoch, t.bestEpoch * itersPerEpoch));
            trained = t.net;
            perRound.add(t.net);
            if (lc.control() && round > 0) {
                MultiLayerConfiguration c2 = conf.clone();
                long seed = lc.controlSeed() + 7919L * round;
                c2.getConfs().forEach(x -> x.setSeed(seed));
                MultiLayerNetwork fresh = new MultiLayerNetwork(c2);
                fresh.init();
                Surgery.applyMasks(fresh, masks);
                Trained c = trainAndTrack(jsc, train, testCached, fresh, masks, meta, tc, itersPerEpoch, progress);
                rows.add(new Row(round, "random-reinit", remaining, c.accuracy, c.loss, c.bestEpoch, c.bestEpoch * itersPerEpoch));
            }
        }
        testCached.unpersist(false);
        return new Result(trained, masks, rows, perRound);
    }

    /** Prunes the trained network's weights by magnitude per layer, among the remaining ones. */
    static Map<TensorKey, Mask> pruneRound(MultiLayerNetwork trained, Map<TensorKey, Mask> masks, Rounds lc) {
        List<Target> targets = new ArrayList<>();
        int last = trained.getnLayers() - 1;
        for (int i = 0; i <= last; i++) {
            boolean conv = trained.getLayer(i).conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
            for (String param : LayerSupport.weightParams(trained.getLayer(i).conf().getLayer())) {
                var w = trained.getLayer(i).getParam(param);
                if (w == null) continue;
                float[] v = Surgery.values(trained, i, param);
                targets.add(new Target(targets.size(), i, param, w.shape(), v, masks.getOrDefault(new TensorKey(i, param), Mask.all(v.length)),
                        Amount.fraction(i == last ? lc.outputRate() : lc.rate()), conv ? 0 : 1, conv ? 1 : 0));
            }
        }
        Map<Integer, Mask> fresh = Pruner.masks(targets, new L1Unstructured(), Amount.fraction(lc.rate()), io.squeeze.prune.Chunk.DEFAULT_SIZE);
        Map<TensorKey, Mask> out = new TreeMap<>();
        for (Target t : targets) out.put(t.key(), fresh.get(t.id()));
        return out;
    }

    private record Trained(MultiLayerNetwork net, double accuracy, double loss, int bestEpoch) {}

    private static Trained trainAndTrack(JavaSparkContext jsc, JavaRDD<Example> train, JavaRDD<Example> test, MultiLayerNetwork start,
                                         Map<TensorKey, Mask> masks, ModelMeta meta, SparkTrainer.Config tc, long itersPerEpoch, PrintWriter progress) {
        double[] best = {Double.MAX_VALUE};
        int[] bestEpoch = {0};
        double[] last = new double[2];
        MultiLayerNetwork constrained = masks.isEmpty() ? start : Surgery.withMaskConstraints(start, masks);
        MultiLayerNetwork out = SparkTrainer.train(jsc, train, constrained, meta.numFeatures(), meta.numClasses(), tc, "lottery", progress, (e, n) -> {
            var r = SparkEvaluator.evaluate(jsc, test, new LoadedModel(n.clone(), plain(meta), "", "epoch " + e, SourceKind.DL4J_ZIP, 0), null, 256, "validation");
            last[0] = r.stats().accuracy();
            last[1] = r.stats().loss();
            if (r.stats().loss() < best[0]) {
                best[0] = r.stats().loss();
                bestEpoch[0] = e;
            }
            progress.printf("lottery:   epoch %d validation accuracy %.4f loss %.4f%n", e, last[0], last[1]);
        });
        MultiLayerNetwork clean = masks.isEmpty() ? out : Surgery.withoutMaskConstraints(out);
        Surgery.applyMasks(clean, masks);
        return new Trained(clean, last[0], last[1], bestEpoch[0]);
    }

    /** Data passed in is already normalized: evaluate without a second transform. */
    private static ModelMeta plain(ModelMeta m) {
        return new ModelMeta(m.numFeatures(), m.numClasses(), m.inputShape(), null, m.trainedOn());
    }
}
