package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.data.Batches;
import io.squeeze.data.Example;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.util.LongAccumulator;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.io.PrintWriter;
import java.util.Iterator;

/**
 * Data-parallel training with DL4J's parameter averaging (McDonald, Hall and Mann 2010; Zinkevich et al. 2010):
 * each worker fits its share of minibatches, and parameters (and updater state) are averaged every
 * {@code syncEvery} minibatches (each worker runs that many local steps between averages: local SGD). Rows become fixed-size {@link DataSet} minibatches per partition.
 */
public final class SparkTrainer {
    private SparkTrainer() {}

    /**
     * Minibatches per worker between averages when a command is not told otherwise: measured in docs/BENCHMARKS.md
     * (LeNet-300-100 on MNIST, local[2]: every 20 runs a warm epoch at 0.97x the speed of {@code --local} with the same
     * accuracy after 2 epochs; every 5, the default before, at 0.63x).
     */
    public static final int DEFAULT_SYNC_EVERY = 20;

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
     * @param seed               seeds how each epoch's data is split between averaging rounds and workers: the same
     *                           seed, data, master and partitioning give the same weights
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
        return train(jsc, rows, net, numFeatures, numClasses, cfg, where, progress, (e, n) -> { });
    }

    /** As above, calling {@code afterEpoch} with the epoch (1-based) and the averaged network after each epoch. */
    public static MultiLayerNetwork train(JavaSparkContext jsc, JavaRDD<Example> rows, MultiLayerNetwork net,
                                          int numFeatures, int numClasses, Config cfg, String where, PrintWriter progress,
                                          java.util.function.BiConsumer<Integer, MultiLayerNetwork> afterEpoch) {
        // in process the rows keep their order; on Spark they are spread over every worker
        JavaRDD<DataSet> data = minibatches(cfg.local() ? rows : RoundRobin.spread(rows, jsc.defaultParallelism()), numFeatures, numClasses,
                cfg.batchSize(), where);
        return fit(jsc, data, net, cfg, where, progress, afterEpoch);
    }

    /**
     * Export writes the minibatches once (under {@code hadoop.tmp.dir} on the default filesystem) and each averaging
     * round reads only its own files; Direct rescans the RDD once per round. DL4J refuses Export on a cluster whose
     * default filesystem is the local disk (each executor would see its own), so there - data on S3 and no HDFS, say -
     * training uses Direct.
     */
    static RDDTrainingApproach approach(JavaSparkContext jsc) {
        return org.deeplearning4j.spark.impl.paramavg.util.ExportSupport.exportSupported(jsc) ? RDDTrainingApproach.Export : RDDTrainingApproach.Direct;
    }

    /**
     * Where Export writes this training's minibatches: a directory of its own under {@code hadoop.tmp.dir} on the default
     * filesystem, removed whole when training ends (DL4J's own cleanup leaves an empty directory per run).
     */
    private static String exportDir(JavaSparkContext jsc) {
        var conf = jsc.hadoopConfiguration();
        return new org.apache.hadoop.fs.Path(org.apache.hadoop.fs.FileSystem.getDefaultUri(conf).toString(),
                conf.get("hadoop.tmp.dir", "/tmp") + "/squeeze-train-" + java.util.UUID.randomUUID()).toString();
    }

    private static void removeExportDir(JavaSparkContext jsc, String dir) {
        try {
            var p = new org.apache.hadoop.fs.Path(dir);
            p.getFileSystem(jsc.hadoopConfiguration()).delete(p, true);
        } catch (java.io.IOException e) {
            org.apache.logging.log4j.LogManager.getLogger(SparkTrainer.class).warn("could not remove {}: {}", dir, e.getMessage());
        }
    }

    private static ParameterAveragingTrainingMaster master(JavaSparkContext jsc, Config cfg, String exportDir) {
        int workers = jsc.defaultParallelism();
        return new ParameterAveragingTrainingMaster.Builder(workers, cfg.batchSize())
                .exportDirectory(exportDir)
                .batchSizePerWorker(cfg.batchSize())
                .averagingFrequency(cfg.syncEvery())
                .workerPrefetchNumBatches(2)
                .rddTrainingApproach(approach(jsc))
                // the workers keep the partitions RoundRobin.spread dealt them: DL4J's default re-deals every
                // averaging round's data with a shuffle, whose blocks arrive in no fixed order on a cluster
                .repartionData(org.deeplearning4j.spark.api.Repartition.Never)
                .rngSeed(cfg.seed())
                .collectTrainingStats(false)
                .saveUpdater(true)
                .trainingHooks(new TaskThreadsHook(), new DropoutSeedHook(cfg.seed()))
                .build();
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
        JavaRDD<DataSet> data = minibatches(cfg.local() ? rows : RoundRobin.spread(rows, jsc.defaultParallelism()), numFeatures, numClasses,
                cfg.batchSize(), where);
        return fitGraph(jsc, singleOutput(data), graph, cfg, where, progress, afterEpoch);
    }

    /** Minibatches of one input and one output as the multi-input form a ComputationGraph trains on. */
    public static JavaRDD<org.nd4j.linalg.dataset.api.MultiDataSet> singleOutput(JavaRDD<DataSet> data) {
        return data.map(d -> new org.nd4j.linalg.dataset.MultiDataSet(d.getFeatures(), d.getLabels()));
    }

    /** The step decay of {@code h} after every epoch but the last, on the network being trained, after {@code then}. */
    public static <N> java.util.function.BiConsumer<Integer, N> decaying(java.util.function.BiConsumer<Integer, N> then,
                                                                         io.squeeze.model.Architectures.Hyper h, int epochs,
                                                                         java.util.function.ObjDoubleConsumer<N> setLearningRate) {
        return (e, n) -> {
            then.accept(e, n);
            if (h.lrDecay() != null && e < epochs) setLearningRate.accept(n, h.learningRate(e + 1));
        };
    }

    /** Trains a ComputationGraph (e.g. a student with a feature-distillation output) on multi-output minibatches. */
    public static org.deeplearning4j.nn.graph.ComputationGraph fitGraph(JavaSparkContext jsc, JavaRDD<org.nd4j.linalg.dataset.api.MultiDataSet> data,
                                                                        org.deeplearning4j.nn.graph.ComputationGraph graph, Config cfg, String where,
                                                                        PrintWriter progress) {
        return fitGraph(jsc, data, graph, cfg, where, progress, (e, g) -> { });
    }

    /** As above, calling {@code afterEpoch} with the epoch (1-based) and the averaged graph after each epoch. */
    public static org.deeplearning4j.nn.graph.ComputationGraph fitGraph(JavaSparkContext jsc, JavaRDD<org.nd4j.linalg.dataset.api.MultiDataSet> data,
                                                                        org.deeplearning4j.nn.graph.ComputationGraph graph, Config cfg, String where,
                                                                        PrintWriter progress,
                                                                        java.util.function.BiConsumer<Integer, org.deeplearning4j.nn.graph.ComputationGraph> afterEpoch) {
        var sparkNet = new org.deeplearning4j.spark.impl.graph.SparkComputationGraph[1];
        LongAccumulator rows = jsc.sc().longAccumulator("squeeze training rows");
        JavaRDD<org.nd4j.linalg.dataset.api.MultiDataSet> counted = counted(data, rows, d -> d.getFeatures(0).size(0));
        EpochLoss loss = new EpochLoss(jsc);
        // weight-shared vertices train by their clusters' summed gradients, in process and on every worker
        java.util.List<org.deeplearning4j.optimize.api.TrainingListener> listeners = io.squeeze.model.TiedGradients.needed(graph)
                ? java.util.List.of(new io.squeeze.model.TiedGradients(), loss) : java.util.List.of(loss);
        var before = new java.util.ArrayList<>(graph.getListeners() == null ? java.util.List.of() : graph.getListeners());
        try {
            epochs(jsc, cfg, where, progress, rows, loss, tm -> {
                if (tm == null) {
                    graph.addListeners(listeners.toArray(new org.deeplearning4j.optimize.api.TrainingListener[0]));
                    return () -> graph.fit(new org.deeplearning4j.datasets.iterator.IteratorMultiDataSetIterator(counted.toLocalIterator(), cfg.batchSize()));
                }
                tm.setListeners(listeners);
                return () -> (sparkNet[0] == null ? sparkNet[0] = new org.deeplearning4j.spark.impl.graph.SparkComputationGraph(jsc, graph, tm)
                        : sparkNet[0]).fitMultiDataSet(counted);
            }, e -> afterEpoch.accept(e, cfg.local() ? graph : sparkNet[0].getNetwork()));
        } finally {
            if (cfg.local()) graph.setListeners(before);
        }
        return cfg.local() ? graph : sparkNet[0].getNetwork();
    }

    /** Trains on ready minibatches (e.g. distillation's, whose labels carry soft targets); see above. */
    public static MultiLayerNetwork fit(JavaSparkContext jsc, JavaRDD<DataSet> data, MultiLayerNetwork net, Config cfg, String where,
                                        PrintWriter progress, java.util.function.BiConsumer<Integer, MultiLayerNetwork> afterEpoch) {
        SparkDl4jMultiLayer[] sparkNet = new SparkDl4jMultiLayer[1];
        LongAccumulator rows = jsc.sc().longAccumulator("squeeze training rows");
        JavaRDD<DataSet> counted = counted(data, rows, d -> (long) d.numExamples());
        // weight-shared layers train by their clusters' summed gradients, in process and on every worker
        EpochLoss loss = new EpochLoss(jsc);
        java.util.List<org.deeplearning4j.optimize.api.TrainingListener> listeners = io.squeeze.model.TiedGradients.needed(net)
                ? java.util.List.of(new io.squeeze.model.TiedGradients(), loss) : java.util.List.of(loss);
        var before = new java.util.ArrayList<>(net.getListeners() == null ? java.util.List.of() : net.getListeners());
        try {
            epochs(jsc, cfg, where, progress, rows, loss, tm -> {
                if (tm == null) {
                    net.addListeners(listeners.toArray(new org.deeplearning4j.optimize.api.TrainingListener[0]));
                    return () -> net.fit(new org.deeplearning4j.datasets.iterator.ExistingDataSetIterator(counted.toLocalIterator()));
                }
                tm.setListeners(listeners);
                return () -> (sparkNet[0] == null ? sparkNet[0] = new SparkDl4jMultiLayer(jsc, net, tm) : sparkNet[0]).fit(counted);
            }, e -> afterEpoch.accept(e, cfg.local() ? net : sparkNet[0].getNetwork()));
        } finally {
            if (cfg.local()) net.setListeners(before);
        }
        return cfg.local() ? net : sparkNet[0].getNetwork();
    }

    /** {@code data} adding each minibatch's rows to {@code rows} as it is built (the epoch's rows for progress). */
    private static <T> JavaRDD<T> counted(JavaRDD<T> data, LongAccumulator rows, org.apache.spark.api.java.function.Function<T, Long> size) {
        return data.map(d -> {
            rows.add(size.call(d));
            return d;
        });
    }

    /**
     * The epoch loop of every training: {@code start} gets the training master (null in process) and returns one
     * epoch's fit, whose minibatches add their losses to {@code loss}; progress per epoch (the epoch's mean minibatch loss); the exported minibatches and thread settings cleaned up
     * whatever happens. In process ({@link Execution.InProcess}, {@code --local}) each epoch streams the minibatches
     * to this JVM in partition order ({@code toLocalIterator}, one partition at a time) and fits them with every core.
     */
    private static void epochs(JavaSparkContext jsc, Config cfg, String where, PrintWriter progress, LongAccumulator rows, EpochLoss loss,
                               java.util.function.Function<ParameterAveragingTrainingMaster, Runnable> start,
                               java.util.function.IntConsumer afterEpoch) {
        String exportDir = cfg.local() ? null : exportDir(jsc);
        ParameterAveragingTrainingMaster tm = cfg.local() ? null : master(jsc, cfg, exportDir);
        if (cfg.local()) Nd4jThreads.all();
        String how = cfg.local() ? " (in process)" : "";
        try {
            Runnable epoch = start.apply(tm);
            long perEpoch = 0;
            for (int e = 1; e <= cfg.epochs(); e++) {
                jsc.setJobDescription("squeeze train" + how + " epoch " + e + "/" + cfg.epochs() + " on " + where);
                long t0 = System.nanoTime(), before = rows.value();
                epoch.run();
                double score = loss.take();
                double s = (System.nanoTime() - t0) / 1e9;
                // DL4J builds the minibatches in the first epoch only (Export writes them to files, Direct caches them); in
                // process every epoch streams them again: the first epoch's count is the rows an epoch trains on
                if (perEpoch == 0) perEpoch = rows.value() - before;
                progress.printf(java.util.Locale.ROOT, "train: epoch %d/%d  loss %.4f  %.1f s  %,d rows  %,.0f rows/s%s%n", e, cfg.epochs(), score, s,
                        perEpoch, perEpoch / s, how);
                progress.flush();
                afterEpoch.accept(e);
            }
        } finally {
            jsc.clearJobGroup();
            if (jsc.isLocal()) Nd4jThreads.all();
            if (tm != null) {
                tm.deleteTempFiles(jsc);
                removeExportDir(jsc, exportDir);
            }
        }
    }
}
