package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.data.Batches;
import io.squeeze.data.Example;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.util.LongAccumulator;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.io.PrintWriter;
import java.util.Iterator;

/**
 * Data-parallel training: on Spark by local SGD with periodic model averaging ({@link LocalSgd}: each worker fits
 * {@code syncEvery} of its cached minibatches between two averages of parameters and updater state), in process
 * ({@code --local}) by one DL4J {@code fit} over the minibatches streamed from Spark. Rows become fixed-size one-hot
 * minibatches per partition.
 */
public final class SparkTrainer {
    private SparkTrainer() {}

    /**
     * Minibatches per worker between averages when a command is not told otherwise, chosen by measurement
     * (docs/BENCHMARKS.md, session 40; LeNet-300-100 on MNIST, local[2], 15 epochs, seeds 42, 1, 7): every 40 gave a mean
     * test accuracy of 98.32 % against 98.24 % every 20 and 98.30 % every 80, and a worker's warm epoch spent 145–166 ms
     * in the rounds against 176–274 ms every 20. (Session 17 chose 20 with DL4J's parameter averaging.)
     */
    public static final int DEFAULT_SYNC_EVERY = 40;

    /** What training that recorded no {@code syncEvery} ran with (fine-tuning and QAT before the option existed). */
    public static final int SYNC_EVERY_BEFORE_THE_OPTION = 5;

    /**
     * A record's {@code syncEvery} as given, or {@link #SYNC_EVERY_BEFORE_THE_OPTION} when a manifest written before the
     * option has none; refused unless &gt; 0.
     */
    public static int syncEvery(Integer stored) {
        int s = stored == null ? SYNC_EVERY_BEFORE_THE_OPTION : stored;
        if (s <= 0) throw new BadInputException("--sync-every must be > 0, got " + s);
        return s;
    }

    /**
     * @param epochs             passes over the data
     * @param batchSize          minibatch rows per worker
     * @param syncEvery          minibatches each worker fits between parameter (and updater state) averages
     * @param seed               seeds the order in which each worker fits its minibatches each epoch (and dropout): the
     *                           same seed, data, master and partitioning give the same weights
     * @param local              train in this process ({@code --local}): one DL4J {@code fit} over the minibatches in
     *                           the data's order, streamed from Spark, instead of parameter averaging on the executors
     */
    public record Config(int epochs, int batchSize, @com.fasterxml.jackson.annotation.JsonAlias("averaging_frequency") int syncEvery, long seed,
                         boolean local) {
        public Config(int epochs, int batchSize, int syncEvery) {
            this(epochs, batchSize, syncEvery, 0, false);
        }

        public Config(int epochs, int batchSize, int syncEvery, long seed) {
            this(epochs, batchSize, syncEvery, seed, false);
        }

        /** The same settings, trained in this process or not. */
        public Config local(boolean inProcess) {
            return new Config(epochs, batchSize, syncEvery, seed, inProcess);
        }

        /** The same settings for {@code n} epochs with another seed (one round of a longer schedule). */
        public Config epochs(int n, long newSeed) {
            return new Config(n, batchSize, syncEvery, newSeed, local);
        }

        public Config {
            if (epochs <= 0) throw new BadInputException("--epochs must be > 0, got " + epochs);
            if (batchSize <= 0) throw new BadInputException("--batch must be > 0, got " + batchSize);
            if (syncEvery <= 0) throw new BadInputException("--sync-every must be > 0, got " + syncEvery);
        }
    }

    /** Turns normalized rows into one-hot minibatches, streaming. */
    public static JavaRDD<DataSet> minibatches(JavaRDD<Example> rows, int numFeatures, int numClasses, int batchSize, String where) {
        return rows.mapPartitions(it -> io.squeeze.core.Pulling.of(Batches.of(it, batchSize, numFeatures, where),
                b -> oneHot(b.next(), numFeatures, numClasses, where)));
    }

    /** A batch of rows as a DataSet with one-hot labels; a label outside the classes is bad input naming its row. */
    public static DataSet oneHot(Batches.Batch x, int numFeatures, int numClasses, String where) {
        float[] y = new float[x.rows() * numClasses];
        for (int r = 0; r < x.rows(); r++) {
            int l = x.labels()[r];
            if (l < 0 || l >= numClasses)
                throw new BadInputException(where + " row " + x.ids()[r] + ": label " + l + " is out of range for " + numClasses + " classes");
            y[r * numClasses + l] = 1f;
        }
        return new DataSet(Nd4j.create(x.features(), new long[]{x.rows(), numFeatures}, 'c'),
                Nd4j.create(y, new long[]{x.rows(), numClasses}, 'c'));
    }

    /** Trains a new network of {@code conf}, calling {@code afterEpoch} as below. */
    public static MultiLayerNetwork train(JavaSparkContext jsc, JavaRDD<Example> rows, MultiLayerConfiguration conf,
                                          int numFeatures, int numClasses, Config cfg, String where, PrintWriter progress,
                                          java.util.function.BiConsumer<Integer, MultiLayerNetwork> afterEpoch) {
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return train(jsc, rows, net, numFeatures, numClasses, cfg, where, progress, afterEpoch);
    }

    /** Continues training {@code net} (e.g. fine-tuning a compressed model; its layer constraints are enforced). */
    public static MultiLayerNetwork train(JavaSparkContext jsc, JavaRDD<Example> rows, MultiLayerNetwork net,
                                          int numFeatures, int numClasses, Config cfg, String where, PrintWriter progress) {
        return train(jsc, rows, net, numFeatures, numClasses, cfg, where, progress, EpochWatcher.none());
    }

    /** As above, calling {@code afterEpoch} with the epoch (1-based) and the averaged network after each epoch. */
    public static MultiLayerNetwork train(JavaSparkContext jsc, JavaRDD<Example> rows, MultiLayerNetwork net,
                                          int numFeatures, int numClasses, Config cfg, String where, PrintWriter progress,
                                          java.util.function.BiConsumer<Integer, MultiLayerNetwork> afterEpoch) {
        try (TrainingData data = batches(jsc, rows, numFeatures, numClasses, cfg, where)) {
            return data.succeeded(train(jsc, data, net, cfg, where, progress, afterEpoch));
        }
    }

    /**
     * Labelled rows made into training minibatches once, for one training or several (a lottery's rounds): on Spark
     * spread over every worker ({@link RoundRobin}) and cached until {@link #close}; in process ({@code --local}) in
     * the rows' order, built again each epoch.
     */
    public static final class TrainingData implements AutoCloseable {
        private final JavaRDD<TrainingBatch> cached;
        private final JavaRDD<DataSet> streamed;
        private boolean succeeded;

        /** {@code minibatches} cached for training on Spark, or as they are for training in process. */
        private TrainingData(JavaRDD<DataSet> minibatches, boolean inProcess) {
            this.cached = inProcess ? null : cache(minibatches.map(TrainingBatch::of));
            this.streamed = inProcess ? minibatches : null;
        }

        /** Ready training batches cached for training on Spark. */
        private TrainingData(JavaRDD<TrainingBatch> batches) {
            this.cached = cache(batches);
            this.streamed = null;
        }

        private static JavaRDD<TrainingBatch> cache(JavaRDD<TrainingBatch> batches) {
            return batches.persist(org.apache.spark.storage.StorageLevel.MEMORY_AND_DISK());
        }

        /**
         * Marks the trainings on these minibatches as done: {@link #close} then waits for the cached minibatches'
         * removal (a removal still answering when the session stops next makes Scala print a
         * RejectedExecutionException's stack trace); after a failure it does not wait, not to hide the failure.
         * Returns {@code result}.
         */
        public <T> T succeeded(T result) {
            succeeded = true;
            return result;
        }

        @Override
        public void close() {
            if (cached != null) cached.unpersist(succeeded);
        }
    }

    /** {@code rows} as minibatches of {@code cfg.batchSize()} one-hot labelled rows, for {@link #train(JavaSparkContext, TrainingData, MultiLayerNetwork, Config, String, PrintWriter, java.util.function.BiConsumer)}. */
    public static TrainingData batches(JavaSparkContext jsc, JavaRDD<Example> rows, int numFeatures, int numClasses, Config cfg, String where) {
        return new TrainingData(minibatches(cfg.local() ? rows : RoundRobin.spread(rows, jsc.defaultParallelism()), numFeatures, numClasses,
                cfg.batchSize(), where), cfg.local());
    }

    /** Trains {@code net} on prepared minibatches (see {@link #batches}), calling {@code afterEpoch} after each epoch. */
    public static MultiLayerNetwork train(JavaSparkContext jsc, TrainingData data, MultiLayerNetwork net, Config cfg, String where, PrintWriter progress,
                                          java.util.function.BiConsumer<Integer, MultiLayerNetwork> afterEpoch) {
        if (cfg.local()) return fit(jsc, data.streamed, net, cfg, where, progress, afterEpoch);
        onSpark(jsc, cfg, where, progress, data.cached, net, afterEpoch);
        return net;
    }

    /** As {@link #train(JavaSparkContext, TrainingData, MultiLayerNetwork, Config, String, PrintWriter, java.util.function.BiConsumer)}, a graph of one input and one output. */
    public static org.deeplearning4j.nn.graph.ComputationGraph trainGraph(JavaSparkContext jsc, TrainingData data, org.deeplearning4j.nn.graph.ComputationGraph graph,
                                                                          Config cfg, String where, PrintWriter progress,
                                                                          java.util.function.BiConsumer<Integer, org.deeplearning4j.nn.graph.ComputationGraph> afterEpoch) {
        if (cfg.local()) return fitGraph(jsc, singleOutput(data.streamed), graph, cfg, where, progress, afterEpoch);
        onSpark(jsc, cfg, where, progress, data.cached, graph, afterEpoch);
        return graph;
    }

    /**
     * Trains a ComputationGraph of one input and one output (a ResNet) on labelled rows, as {@link #train} trains a
     * layer stack (the same minibatches, spreading, averaging and progress), calling {@code afterEpoch} with the epoch
     * and the averaged graph after each epoch.
     */
    public static org.deeplearning4j.nn.graph.ComputationGraph trainGraph(JavaSparkContext jsc, JavaRDD<Example> rows,
                                                                          org.deeplearning4j.nn.graph.ComputationGraph graph, int numFeatures,
                                                                          int numClasses, Config cfg, String where, PrintWriter progress,
                                                                          java.util.function.BiConsumer<Integer, org.deeplearning4j.nn.graph.ComputationGraph> afterEpoch) {
        try (TrainingData data = batches(jsc, rows, numFeatures, numClasses, cfg, where)) {
            return data.succeeded(trainGraph(jsc, data, graph, cfg, where, progress, afterEpoch));
        }
    }

    /** Minibatches of one input and one output as the multi-input form a ComputationGraph trains on. */
    public static JavaRDD<org.nd4j.linalg.dataset.api.MultiDataSet> singleOutput(JavaRDD<DataSet> data) {
        return data.map(d -> new org.nd4j.linalg.dataset.MultiDataSet(d.getFeatures(), d.getLabels()));
    }

    /**
     * The step decay of {@code h} after every epoch but the last, on the network being trained, after {@code then};
     * {@code then} itself when {@code h} has no decay.
     */
    public static <N> java.util.function.BiConsumer<Integer, N> decaying(java.util.function.BiConsumer<Integer, N> then,
                                                                         io.squeeze.model.Architectures.Hyper h, int epochs,
                                                                         java.util.function.ObjDoubleConsumer<N> setLearningRate) {
        if (h.lrDecay() == null) return then; // an EpochWatcher stays one
        return (e, n) -> {
            then.accept(e, n);
            if (h.lrDecay() != null && e < epochs) setLearningRate.accept(n, h.learningRate(e + 1));
        };
    }

    /** Trains a ComputationGraph (e.g. a student with a feature-distillation output) on multi-output minibatches. */
    public static org.deeplearning4j.nn.graph.ComputationGraph fitGraph(JavaSparkContext jsc, JavaRDD<org.nd4j.linalg.dataset.api.MultiDataSet> data,
                                                                        org.deeplearning4j.nn.graph.ComputationGraph graph, Config cfg, String where,
                                                                        PrintWriter progress) {
        return fitGraph(jsc, data, graph, cfg, where, progress, EpochWatcher.none());
    }

    /** As above, calling {@code afterEpoch} with the epoch (1-based) and the averaged graph after each epoch. */
    public static org.deeplearning4j.nn.graph.ComputationGraph fitGraph(JavaSparkContext jsc, JavaRDD<org.nd4j.linalg.dataset.api.MultiDataSet> data,
                                                                        org.deeplearning4j.nn.graph.ComputationGraph graph, Config cfg, String where,
                                                                        PrintWriter progress,
                                                                        java.util.function.BiConsumer<Integer, org.deeplearning4j.nn.graph.ComputationGraph> afterEpoch) {
        if (!cfg.local()) return cachedOnSpark(jsc, cfg, where, progress, data.map(TrainingBatch::of), graph, afterEpoch);
        LongAccumulator rows = jsc.sc().longAccumulator("squeeze training rows");
        JavaRDD<org.nd4j.linalg.dataset.api.MultiDataSet> counted = counted(data, rows, d -> d.getFeatures(0).size(0));
        return inProcess(jsc, cfg, where, progress, graph, graph.getListeners(), rows,
                () -> graph.fit(new org.deeplearning4j.datasets.iterator.IteratorMultiDataSetIterator(counted.toLocalIterator(), cfg.batchSize())),
                afterEpoch);
    }

    /** Trains on ready minibatches (e.g. distillation's, whose labels carry soft targets); see above. */
    public static MultiLayerNetwork fit(JavaSparkContext jsc, JavaRDD<DataSet> data, MultiLayerNetwork net, Config cfg, String where,
                                        PrintWriter progress, java.util.function.BiConsumer<Integer, MultiLayerNetwork> afterEpoch) {
        if (!cfg.local()) return cachedOnSpark(jsc, cfg, where, progress, data.map(TrainingBatch::of), net, afterEpoch);
        LongAccumulator rows = jsc.sc().longAccumulator("squeeze training rows");
        JavaRDD<DataSet> counted = counted(data, rows, d -> (long) d.numExamples());
        return inProcess(jsc, cfg, where, progress, net, net.getListeners(), rows,
                () -> net.fit(new org.deeplearning4j.datasets.iterator.ExistingDataSetIterator(counted.toLocalIterator())), afterEpoch);
    }

    /** {@code data} adding each minibatch's rows to {@code rows} as it is built (the epoch's rows for progress). */
    private static <T> JavaRDD<T> counted(JavaRDD<T> data, LongAccumulator rows, org.apache.spark.api.java.function.Function<T, Long> size) {
        return data.map(d -> {
            rows.add(size.call(d));
            return d;
        });
    }

    /**
     * The epoch loop of training on Spark ({@link LocalSgd}): progress per epoch (the epoch's mean minibatch loss,
     * time, rows/s, how the rounds ran and the workers' shares of the time fitting and waiting, {@link #shares}); for a
     * {@link EpochWatcher}, the epochs after the first several to a barrier stage and each reported and watched after it; the
     * cached minibatches and thread settings cleaned up whatever happens.
     */
    private static <N extends org.deeplearning4j.nn.api.Model> void onSpark(JavaSparkContext jsc, Config cfg, String where, PrintWriter progress,
                                                                             JavaRDD<TrainingBatch> data, N net,
                                                                             java.util.function.BiConsumer<Integer, N> afterEpoch) {
        EpochLoss loss = new EpochLoss(jsc);
        // the dropout seed only where training draws random numbers (DropoutSeedHook.needed): it hashes every minibatch
        var hooks = DropoutSeedHook.needed(net) ? java.util.List.<org.deeplearning4j.spark.api.TrainingHook>of(new TaskThreadsHook(), new DropoutSeedHook(cfg.seed()))
                : java.util.List.<org.deeplearning4j.spark.api.TrainingHook>of(new TaskThreadsHook());
        LocalSgd sgd = LocalSgd.of(jsc, data, net, cfg, listeners(net, loss), hooks);
        EpochWatcher<N> watcher = afterEpoch instanceof EpochWatcher<N> o ? o : null;
        try {
            double perEpoch = Double.NaN; // the last stage's seconds an epoch; the first epoch (building the cache) runs alone
            for (int e = 1; e <= cfg.epochs(); ) {
                boolean everyState = watcher == null || watcher.readsNetwork();
                int k = watcher == null ? 1 : sgd.epochsPerStage(perEpoch, cfg.epochs() - e + 1, everyState);
                jsc.setJobDescription("squeeze train epoch" + (k == 1 ? " " + e : "s " + e + "-" + (e + k - 1)) + "/" + cfg.epochs() + " on " + where);
                long t0 = System.nanoTime();
                var done = sgd.epochs(e, k, everyState);
                long wall = System.nanoTime() - t0;
                double pooled = loss.take(); // one Spark job a round adds the loss up here; a barrier stage gives each epoch's
                long workerNanos = done.stream().mapToLong(LocalSgd.Epoch::nanos).sum();
                String stage = sgd.sync() == LocalSgd.Sync.JOBS ? ", one Spark job a round"
                        : done.size() == 1 ? ", one barrier stage" : ", one barrier stage for epochs " + e + "-" + (e + done.size() - 1);
                for (LocalSgd.Epoch d : done) {
                    // each epoch's share of the stage's wall time, in proportion to worker 0's time on it
                    long nanos = done.size() == 1 || workerNanos <= 0 ? wall / done.size() : Math.round((double) wall * d.nanos() / workerNanos);
                    sgd.apply(d);
                    double mean = d.lossCount() < 0 ? pooled : d.lossCount() == 0 ? Double.NaN : d.lossSum() / d.lossCount();
                    String workers = sgd.workers() + (sgd.workers() == 1 ? " worker" : " workers");
                    report(progress, d.epoch(), cfg, mean, nanos / 1e9, d.rows(), " (" + workers + stage + shares(d.fitNanos(), d.waitNanos(), sgd.workers(), nanos) + ")");
                    if (watcher != null) watcher.seconds(d.epoch(), nanos / 1e9);
                    afterEpoch.accept(d.epoch(), net);
                }
                // the stage's pace: worker 0's time on its epochs (the first stage's wall time also built the cache)
                perEpoch = (workerNanos > 0 ? workerNanos : wall) / 1e9 / done.size();
                e += done.size();
            }
        } finally {
            jsc.clearJobGroup();
            sgd.finish();
            if (jsc.isLocal()) Nd4jThreads.all();
        }
    }

    /** {@link #onSpark} on {@code minibatches}, cached for this training only. */
    private static <N extends org.deeplearning4j.nn.api.Model> N cachedOnSpark(JavaSparkContext jsc, Config cfg, String where, PrintWriter progress,
                                                                                JavaRDD<TrainingBatch> minibatches, N net,
                                                                                java.util.function.BiConsumer<Integer, N> afterEpoch) {
        try (TrainingData data = new TrainingData(minibatches)) {
            onSpark(jsc, cfg, where, progress, data.cached, net, afterEpoch);
            return data.succeeded(net);
        }
    }

    /**
     * The epoch loop in process ({@link Execution.InProcess}, {@code --local}): each epoch streams the minibatches to
     * this JVM in partition order ({@code toLocalIterator}, one partition at a time) and fits them with every core.
     */
    private static <N extends org.deeplearning4j.nn.api.Model> N inProcess(JavaSparkContext jsc, Config cfg, String where, PrintWriter progress, N net,
                                                                            java.util.Collection<org.deeplearning4j.optimize.api.TrainingListener> current,
                                                                            LongAccumulator rows, Runnable epoch,
                                                                            java.util.function.BiConsumer<Integer, N> afterEpoch) {
        EpochLoss loss = new EpochLoss(jsc);
        var before = new java.util.ArrayList<>(current == null ? java.util.List.of() : current);
        net.addListeners(listeners(net, loss).toArray(new org.deeplearning4j.optimize.api.TrainingListener[0]));
        io.squeeze.model.TrainingKernels.install(net);
        Nd4jThreads.all();
        try {
            for (int e = 1; e <= cfg.epochs(); e++) {
                jsc.setJobDescription("squeeze train (in process) epoch " + e + "/" + cfg.epochs() + " on " + where);
                long t0 = System.nanoTime(), done = rows.value();
                epoch.run();
                report(progress, e, cfg, loss.take(), (System.nanoTime() - t0) / 1e9, rows.value() - done, " (in process)");
                io.squeeze.model.TrainingKernels.restore(net); // what happens between epochs may save the network
                afterEpoch.accept(e, net);
                io.squeeze.model.TrainingKernels.install(net);
            }
        } finally {
            jsc.clearJobGroup();
            net.setListeners(before);
            io.squeeze.model.TrainingKernels.restore(net);
        }
        return net;
    }

    /** The epoch's loss, and for weight-shared layers or vertices the summed gradients of their clusters (in process and on every worker). */
    private static java.util.List<org.deeplearning4j.optimize.api.TrainingListener> listeners(org.deeplearning4j.nn.api.Model net, EpochLoss loss) {
        boolean tied = net instanceof org.deeplearning4j.nn.graph.ComputationGraph g ? io.squeeze.model.TiedGradients.needed(g)
                : io.squeeze.model.TiedGradients.needed((MultiLayerNetwork) net);
        return tied ? java.util.List.of(new io.squeeze.model.TiedGradients(), loss) : java.util.List.of(loss);
    }

    /**
     * What the workers did with the epoch's wall time {@code wallNanos}: "; fitting F %, waiting W %" — the time in
     * their fit loops and (barrier stages only; {@code waitNanos} -1 otherwise) waiting for each other's states, summed
     * over the workers, as percentages of {@code workers} × the wall time. The rest went to averaging, Spark's stage or
     * jobs, and the driver.
     */
    static String shares(long fitNanos, long waitNanos, int workers, long wallNanos) {
        if (workers <= 0 || wallNanos <= 0) return "";
        double all = (double) workers * wallNanos;
        String fit = String.format(java.util.Locale.ROOT, "; fitting %.0f %%", 100 * fitNanos / all);
        return waitNanos < 0 ? fit : fit + String.format(java.util.Locale.ROOT, ", waiting %.0f %%", 100 * waitNanos / all);
    }

    private static void report(PrintWriter progress, int e, Config cfg, double loss, double s, long rows, String how) {
        progress.printf(java.util.Locale.ROOT, "train: epoch %d/%d  loss %.4f  %.1f s  %,d rows  %,.0f rows/s%s%n", e, cfg.epochs(), loss, s,
                rows, rows / s, how);
        progress.flush();
    }
}
