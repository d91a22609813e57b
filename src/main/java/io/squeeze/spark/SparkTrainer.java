package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.data.Batches;
import io.squeeze.data.Example;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
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
 * {@code averagingFrequency} minibatches. Rows become fixed-size {@link DataSet} minibatches per partition.
 */
public final class SparkTrainer {
    private SparkTrainer() {}

    /**
     * @param epochs             passes over the data
     * @param batchSize          minibatch rows per worker
     * @param averagingFrequency minibatches between parameter averages
     * @param seed               seeds how each epoch's data is split between averaging rounds and workers: the same
     *                           seed, data, master and partitioning give the same weights
     * @param local              train in this process ({@code --local}): one DL4J {@code fit} over the minibatches in
     *                           the data's order, streamed from Spark, instead of parameter averaging on the executors
     */
    public record Config(int epochs, int batchSize, int averagingFrequency, long seed, boolean local) {
        public Config(int epochs, int batchSize, int averagingFrequency) {
            this(epochs, batchSize, averagingFrequency, 0, false);
        }

        public Config(int epochs, int batchSize, int averagingFrequency, long seed) {
            this(epochs, batchSize, averagingFrequency, seed, false);
        }

        /** The same settings, trained in this process or not. */
        public Config local(boolean inProcess) {
            return new Config(epochs, batchSize, averagingFrequency, seed, inProcess);
        }

        public Config {
            if (epochs <= 0) throw new BadInputException("--epochs must be > 0, got " + epochs);
            if (batchSize <= 0) throw new BadInputException("--batch must be > 0, got " + batchSize);
            if (averagingFrequency <= 0) throw new BadInputException("--averaging-frequency must be > 0, got " + averagingFrequency);
        }
    }

    /** Turns normalized rows into one-hot minibatches, streaming. */
    public static JavaRDD<DataSet> minibatches(JavaRDD<Example> rows, int numFeatures, int numClasses, int batchSize, String where) {
        return rows.mapPartitions(it -> io.squeeze.core.Pulling.of(Batches.of(it, batchSize, numFeatures, where), b -> {
            Batches.Batch x = b.next();
            float[] y = new float[x.rows() * numClasses];
            for (int r = 0; r < x.rows(); r++) {
                int l = x.labels()[r];
                if (l < 0 || l >= numClasses)
                    throw new BadInputException(where + " row " + x.ids()[r] + ": label " + l + " is out of range for " + numClasses + " classes");
                y[r * numClasses + l] = 1f;
            }
            return new DataSet(Nd4j.create(x.features(), new long[]{x.rows(), numFeatures}, 'c'),
                    Nd4j.create(y, new long[]{x.rows(), numClasses}, 'c'));
        }));
    }

    public static MultiLayerNetwork train(JavaSparkContext jsc, JavaRDD<Example> rows, MultiLayerConfiguration conf,
                                          int numFeatures, int numClasses, Config cfg, String where, PrintWriter progress) {
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return train(jsc, rows, net, numFeatures, numClasses, cfg, where, progress);
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
        JavaRDD<DataSet> data = minibatches(cfg.local() ? rows : rows.repartition(jsc.defaultParallelism()), numFeatures, numClasses,
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
                .averagingFrequency(cfg.averagingFrequency())
                .workerPrefetchNumBatches(2)
                .rddTrainingApproach(approach(jsc))
                .rngSeed(cfg.seed())
                .collectTrainingStats(false)
                .saveUpdater(true)
                .trainingHooks(new TaskThreadsHook())
                .build();
    }

    /** Trains a ComputationGraph (e.g. a student with a feature-distillation output) on multi-output minibatches. */
    public static org.deeplearning4j.nn.graph.ComputationGraph fitGraph(JavaSparkContext jsc, JavaRDD<org.nd4j.linalg.dataset.api.MultiDataSet> data,
                                                                        org.deeplearning4j.nn.graph.ComputationGraph graph, Config cfg, String where,
                                                                        PrintWriter progress) {
        var sparkNet = new org.deeplearning4j.spark.impl.graph.SparkComputationGraph[1];
        epochs(jsc, cfg, where, progress, tm -> tm == null ? () -> {
            graph.fit(new org.deeplearning4j.datasets.iterator.IteratorMultiDataSetIterator(data.toLocalIterator(), cfg.batchSize()));
            return graph.score();
        } : fitting(() -> (sparkNet[0] == null ? sparkNet[0] = new org.deeplearning4j.spark.impl.graph.SparkComputationGraph(jsc, graph, tm)
                : sparkNet[0]).fitMultiDataSet(data), () -> sparkNet[0].getScore()), e -> { });
        return cfg.local() ? graph : sparkNet[0].getNetwork();
    }

    /** Trains on ready minibatches (e.g. distillation's, whose labels carry soft targets); see above. */
    public static MultiLayerNetwork fit(JavaSparkContext jsc, JavaRDD<DataSet> data, MultiLayerNetwork net, Config cfg, String where,
                                        PrintWriter progress, java.util.function.BiConsumer<Integer, MultiLayerNetwork> afterEpoch) {
        SparkDl4jMultiLayer[] sparkNet = new SparkDl4jMultiLayer[1];
        epochs(jsc, cfg, where, progress, tm -> tm == null ? () -> {
            net.fit(new org.deeplearning4j.datasets.iterator.ExistingDataSetIterator(data.toLocalIterator()));
            return net.score();
        } : fitting(() -> (sparkNet[0] == null ? sparkNet[0] = new SparkDl4jMultiLayer(jsc, net, tm) : sparkNet[0]).fit(data),
                () -> sparkNet[0].getScore()),
                e -> afterEpoch.accept(e, cfg.local() ? net : sparkNet[0].getNetwork()));
        return cfg.local() ? net : sparkNet[0].getNetwork();
    }

    /** One epoch on Spark: {@code fit}, then the averaged {@code score}. */
    private static java.util.function.DoubleSupplier fitting(Runnable fit, java.util.function.DoubleSupplier score) {
        return () -> {
            fit.run();
            return score.getAsDouble();
        };
    }

    /**
     * The epoch loop of every training: {@code start} gets the training master (null in process) and returns one
     * epoch's fit, returning its score; progress per epoch; the exported minibatches and thread settings cleaned up
     * whatever happens. In process ({@link Execution.InProcess}, {@code --local}) each epoch streams the minibatches
     * to this JVM in partition order ({@code toLocalIterator}, one partition at a time) and fits them with every core.
     */
    private static void epochs(JavaSparkContext jsc, Config cfg, String where, PrintWriter progress,
                               java.util.function.Function<ParameterAveragingTrainingMaster, java.util.function.DoubleSupplier> start,
                               java.util.function.IntConsumer afterEpoch) {
        String exportDir = cfg.local() ? null : exportDir(jsc);
        ParameterAveragingTrainingMaster tm = cfg.local() ? null : master(jsc, cfg, exportDir);
        if (cfg.local()) Nd4jThreads.all();
        String how = cfg.local() ? " (in process)" : "";
        try {
            java.util.function.DoubleSupplier epoch = start.apply(tm);
            for (int e = 1; e <= cfg.epochs(); e++) {
                jsc.setJobDescription("squeeze train" + how + " epoch " + e + "/" + cfg.epochs() + " on " + where);
                long t0 = System.nanoTime();
                double score = epoch.getAsDouble();
                progress.printf("train: epoch %d/%d  score %.4f  %.1f s%s%n", e, cfg.epochs(), score, (System.nanoTime() - t0) / 1e9, how);
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
