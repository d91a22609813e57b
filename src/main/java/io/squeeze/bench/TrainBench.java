package io.squeeze.bench;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.data.Split;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.spark.Nd4jThreads;
import io.squeeze.spark.SparkData;
import io.squeeze.spark.SparkSessions;
import io.squeeze.spark.SparkTrainer;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;

import java.io.File;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Training throughput (issue 14), side by side in one run on the same cores: Squeeze's data-parallel training
 * ({@link SparkTrainer}: DL4J parameter averaging every {@link SparkTrainer#DEFAULT_SYNC_EVERY} minibatches per
 * worker, updater state averaged) against an in-process DL4J {@code fit()} loop of the same network over the same
 * minibatches of 64 held in memory, with every core (goal ≥ 0.9×); and the same Spark training on {@code local[1]}
 * against {@code local[2]} (goal ≥ 1.7×). For LeNet-300-100 on the 60,000 MNIST training rows and LeNet-5 on the
 * first 12,000. Each side trains 3 epochs from the same initial weights; the first epoch (JIT warm-up, DL4J's export of
 * the minibatches) is left out and the figure is rows per second over epochs 2 and 3. PyTorch is not compared here:
 * this machine has no {@code python3-torch}.
 */
final class TrainBench implements Bench.Benchmark {
    static final int BATCH = 64, EPOCHS = 3;

    /** One network to measure on the first {@code rows} MNIST training rows. */
    record Case(String name, String arch, int rows) {}

    static final List<Case> CASES = List.of(new Case("mlp300_100", "mlp:300,100", 60_000), new Case("lenet5", "lenet5", 12_000));

    @Override
    public List<Bench.Result> run(SparkSession spark, PrintStream progress) {
        if (!new File("data/mnist/train-images-idx3-ubyte").isFile() && !new File("data/mnist/train-images-idx3-ubyte.gz").isFile())
            throw new BadInputException("the train benchmark needs MNIST in data/mnist: run jobs/get-mnist");
        SparkData.Loaded mnist = SparkData.read(spark, new DataSpec(io.squeeze.data.DataFormat.IDX, "data/mnist", Split.TRAIN, false), -1, null);
        List<Example> all = mnist.rdd().take(60_000);
        int[] image = mnist.imageShape();
        List<MultiLayerConfiguration> confs = new ArrayList<>();
        for (Case c : CASES)
            confs.add(Architectures.build(Arch.parse(c.arch()), 784, 10, image, new Architectures.Hyper(42, 1e-3, 0, 0, 0),
                    new Storage(new org.apache.hadoop.conf.Configuration())));
        double[] inProcess = new double[CASES.size()], two = new double[CASES.size()], one = new double[CASES.size()];
        for (int i = 0; i < CASES.size(); i++) inProcess[i] = inProcess(confs.get(i), rows(all, i), progress, CASES.get(i).name());
        spark.stop(); // each master below gets a fresh session
        keepClassLoader();
        for (int i = 0; i < CASES.size(); i++) two[i] = onSpark("local[2]", confs.get(i), rows(all, i), progress, CASES.get(i).name());
        for (int i = 0; i < CASES.size(); i++) one[i] = onSpark("local[1]", confs.get(i), rows(all, i), progress, CASES.get(i).name());
        List<Bench.Result> out = new ArrayList<>();
        for (int i = 0; i < CASES.size(); i++) {
            Case c = CASES.get(i);
            out.add(new Bench.Result("train." + c.name() + "_local2_vs_in_process", two[i], "rows/s", inProcess[i], two[i] / inProcess[i],
                    String.format(Locale.ROOT, "%,d rows, batch %d, sync every %d; goal >= 0.9x", c.rows(), BATCH, SparkTrainer.DEFAULT_SYNC_EVERY)));
            out.add(new Bench.Result("train." + c.name() + "_local2_vs_local1", two[i], "rows/s", one[i], two[i] / one[i], "goal >= 1.7x"));
        }
        return out;
    }

    static List<Example> rows(List<Example> all, int i) {
        return all.subList(0, CASES.get(i).rows());
    }

    /** Rows/s of a DL4J fit() loop over minibatches held in memory, every core, over the warm epochs. */
    static double inProcess(MultiLayerConfiguration conf, List<Example> rows, PrintStream progress, String name) {
        List<DataSet> batches = new ArrayList<>();
        var it = io.squeeze.data.Batches.of(rows.iterator(), BATCH, rows.get(0).features().length, "bench " + name);
        while (it.hasNext()) batches.add(SparkTrainer.oneHot(it.next(), rows.get(0).features().length, 10, "bench " + name));
        MultiLayerNetwork net = new MultiLayerNetwork(conf.clone());
        net.init();
        Nd4jThreads.all();
        double warm = 0;
        for (int e = 1; e <= EPOCHS; e++) {
            long t0 = System.nanoTime();
            net.fit(new ExistingDataSetIterator(batches));
            double s = (System.nanoTime() - t0) / 1e9;
            if (e > 1) warm += s;
            progress.printf(Locale.ROOT, "bench: train %s in process epoch %d: %.1f s%n", name, e, s);
        }
        return rows.size() * (EPOCHS - 1) / warm;
    }

    /** Rows/s of SparkTrainer on {@code master} over the warm epochs (from the end of epoch 1 to the end of the last). */
    static double onSpark(String master, MultiLayerConfiguration conf, List<Example> rows, PrintStream progress, String name) {
        SparkSession s = SparkSession.builder().config(SparkSessions.defaults("squeeze bench train").setMaster(master)).getOrCreate();
        try {
            var jsc = SparkSessions.jsc(s);
            JavaRDD<Example> rdd = jsc.parallelize(rows, jsc.defaultParallelism()).cache();
            rdd.count();
            MultiLayerNetwork net = new MultiLayerNetwork(conf.clone());
            net.init();
            long[] ends = new long[EPOCHS + 1];
            PrintWriter pw = new PrintWriter(progress, true);
            SparkTrainer.train(jsc, rdd, net, 784, 10, new SparkTrainer.Config(EPOCHS, BATCH, SparkTrainer.DEFAULT_SYNC_EVERY, 42, false),
                    "bench " + name + " on " + master, pw, (e, n) -> ends[e] = System.nanoTime());
            rdd.unpersist(false);
            double warm = (ends[EPOCHS] - ends[1]) / 1e9;
            progress.printf(Locale.ROOT, "bench: train %s on %s: %.1f s for epochs 2-%d%n", name, master, warm, EPOCHS);
            return rows.size() * (EPOCHS - 1) / warm;
        } finally {
            s.stop();
            keepClassLoader();
        }
    }

    /**
     * A stopped session deletes its copy of the job jar, which spark-submit's class loader (the thread's context
     * loader) still lists; ND4J's service lookups would then fail. The system class loader holds the same jar.
     */
    static void keepClassLoader() {
        Thread.currentThread().setContextClassLoader(ClassLoader.getSystemClassLoader());
    }
}
