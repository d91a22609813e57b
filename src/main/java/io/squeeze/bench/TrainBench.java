package io.squeeze.bench;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.data.Split;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.spark.EpochWatcher;
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
 * ({@link SparkTrainer}: local SGD averaging parameters and updater state every
 * {@link SparkTrainer#DEFAULT_SYNC_EVERY} minibatches per worker) against an in-process DL4J {@code fit()} loop of the same network over the same
 * minibatches of 64 held in memory, with every core (goal ≥ 0.9×); and the same Spark training on {@code local[1]}
 * against {@code local[2]} (goal ≥ 1.7×), beside what the machine gives two independent one-thread {@code fit()} loops
 * running at once against one alone (each its own network and minibatches, no Spark, no exchange: the ceiling of that
 * ratio here). The in-process loop uses Squeeze's Adam kernel ({@link io.squeeze.model.JavaAdam})
 * as Squeeze's training does, so the ratio is the cost of distributing; a fourth row compares that loop with the same
 * loop on DL4J's native Adam. For LeNet-300-100 and LeNet-5 on the 60,000 MNIST training rows, one network after the
 * other, each network's figures measured one right after another, {@value #REPEATS} times in a row (this machine's
 * speed drifts by up to a third from minute to minute): each row gives the medians of its two figures and the median
 * of the repeats' ratios, and lists every repeat's ratio.
 * Each side trains from the same initial weights; the first epochs (JIT warm-up, building and caching the minibatches:
 * {@link Case#warmup}) are left out and the figure is rows per second over the case's measured epochs. Before the two
 * Spark figures of a repeat, an unmeasured {@code local[2]} training of the warm-up epochs lets HotSpot compile for
 * Spark's workers what the in-process loops compiled for theirs ({@link #warmSpark}), so neither master pays for it alone;
 * every figure runs a full collection once its data is in memory, before its warm-up ({@link #settle}). On Spark an
 * epoch's time is the one its progress line gives: with several short epochs in one barrier stage
 * ({@link EpochWatcher}), its share of the stage's wall time. When {@code /usr/bin/python3}
 * has PyTorch, its training loop of the same network, minibatches and optimizer ({@code bench/train_torch.py}, two
 * threads) is the third column (goal ≥ 1.0×), run twice: with its defaults and with {@code OPENBLAS_NUM_THREADS=1}.
 * Debian's PyTorch 1.13 computes with whatever {@code libblas.so.3} the system's alternatives select (the reference
 * BLAS unless e.g. {@code libopenblas0-pthread} is installed), which the note names; with OpenBLAS, its threads wait
 * beside PyTorch's own on the same cores and its defaults run these networks 2–3× slower than with one OpenBLAS
 * thread (docs/BENCHMARKS.md, session 29). The goal row compares with the faster of the two; a second row with the
 * defaults.
 */
final class TrainBench implements Bench.Benchmark {
    static final int BATCH = 64;
    /** Each network's figures are measured this many times in a row; the rows give medians (the machine's speed drifts by a third). */
    static final int REPEATS = 3;

    /**
     * One network to measure on the first {@code rows} MNIST training rows: every figure fits {@code warmup} epochs, then
     * {@code measured} more that give its rows per second. The warm-up is what HotSpot's C2 compiler needs to settle:
     * it compiles DL4J's and ND4J's call paths for the first 15–20 s of a training, taking a quarter to over half of one
     * of these two cores, a third thread beside two workers (perf, docs/BENCHMARKS.md, sessions 39 and 46). That is
     * two of LeNet-5's epochs, and six of LeNet-300-100's, whose epochs take 1–2 s.
     */
    record Case(String name, String arch, int rows, int warmup, int measured) {
        int epochs() {
            return warmup + measured;
        }
    }

    static final List<Case> CASES = List.of(new Case("mlp300_100", "mlp:300,100", 60_000, 6, 4), new Case("lenet5", "lenet5", 60_000, 2, 2));

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
        Nd4jThreads.all(); // ND4J's backend and lazily loaded services (the compressor) load while the session's loader has its jar
        for (MultiLayerConfiguration conf : confs) new MultiLayerNetwork(conf.clone()).init();
        org.nd4j.linalg.factory.Nd4j.getCompressor();
        spark.stop(); // each master below gets a fresh session
        keepClassLoader();
        // one network at a time, its figures measured one right after the other (the machine's speed drifts), REPEATS times
        double[][][] reps = new double[CASES.size()][REPEATS][];
        for (int i = 0; i < CASES.size(); i++) {
            Case c = CASES.get(i);
            List<Example> rows = rows(all, i);
            for (int r = 0; r < REPEATS; r++) {
                progress.printf(Locale.ROOT, "bench: train %s, repeat %d of %d%n", c.name(), r + 1, REPEATS);
                double[] f = new double[FIGURES];
                f[IN_PROCESS] = inProcess(confs.get(i), rows, true, progress, c);
                f[NATIVE_ADAM] = inProcess(confs.get(i), rows, false, progress, c);
                f[ONE_LOOP] = loops(confs.get(i), rows, 1, progress, c);
                f[TWO_LOOPS] = loops(confs.get(i), rows, 2, progress, c);
                Nd4jThreads.all();
                warmSpark(confs.get(i), rows, progress, c);
                f[LOCAL2] = onSpark("local[2]", confs.get(i), rows, progress, c);
                f[LOCAL1] = onSpark("local[1]", confs.get(i), rows, progress, c);
                f[TORCH_DEFAULTS] = torch(c, java.util.Map.of(), "its defaults", progress);
                f[TORCH_ONE_BLAS] = torch(c, java.util.Map.of("OPENBLAS_NUM_THREADS", "1"), "OPENBLAS_NUM_THREADS=1", progress);
                reps[i][r] = f;
            }
        }
        List<Bench.Result> out = new ArrayList<>();
        for (int i = 0; i < CASES.size(); i++) {
            Case c = CASES.get(i);
            double[][] f = reps[i];
            boolean torchMissing = Double.isNaN(f[0][TORCH_DEFAULTS]) && Double.isNaN(f[0][TORCH_ONE_BLAS]);
            String torchNote = "PyTorch 1.13 training loop, 2 threads, BLAS " + blas();
            out.add(result("train." + c.name() + "_local2_vs_pytorch", f, LOCAL2, TrainBench::fasterTorch,
                    torchMissing ? "PyTorch not installed (apt-get install python3-torch)"
                            : torchNote + ", the faster of its defaults and OPENBLAS_NUM_THREADS=1 in each repeat (" + fasterSettings(f) + "); goal >= 1.0x"));
            out.add(result("train." + c.name() + "_local2_vs_pytorch_defaults", f, LOCAL2, x -> x[TORCH_DEFAULTS],
                    torchMissing ? "PyTorch not installed" : torchNote + ", its defaults (OpenBLAS threads beside PyTorch's own)"));
            out.add(result("train." + c.name() + "_local2_vs_in_process", f, LOCAL2, x -> x[IN_PROCESS],
                    String.format(Locale.ROOT, "%,d rows, batch %d, sync every %d; goal >= 0.9x", c.rows(), BATCH, SparkTrainer.DEFAULT_SYNC_EVERY)));
            out.add(result("train." + c.name() + "_local2_vs_local1", f, LOCAL2, x -> x[LOCAL1], "goal >= 1.7x"));
            out.add(result("train." + c.name() + "_two_loops_vs_one", f, TWO_LOOPS, x -> x[ONE_LOOP],
                    "two one-thread in-process fit() loops at once (together) vs one alone: what these cores give local[2] vs local[1] without Spark or averaging"));
            out.add(result("train." + c.name() + "_java_adam_vs_dl4j_adam", f, IN_PROCESS, x -> x[NATIVE_ADAM],
                    "in process, every core: Squeeze's Adam kernel (JavaAdam) vs DL4J's native adam_updater, otherwise the same fit() loop"));
        }
        return out;
    }

    /** Each repeat's figures, in this order. */
    static final int IN_PROCESS = 0, NATIVE_ADAM = 1, ONE_LOOP = 2, TWO_LOOPS = 3, LOCAL2 = 4, LOCAL1 = 5, TORCH_DEFAULTS = 6, TORCH_ONE_BLAS = 7,
            FIGURES = 8;

    /** Whether PyTorch ran faster with {@code OPENBLAS_NUM_THREADS=1} than with its defaults in one repeat (or only it ran). */
    private static boolean oneBlasFaster(double[] f) {
        return f[TORCH_ONE_BLAS] > f[TORCH_DEFAULTS] || Double.isNaN(f[TORCH_DEFAULTS]);
    }

    /** PyTorch's faster setting in one repeat (NaN without PyTorch). */
    static double fasterTorch(double[] f) {
        return oneBlasFaster(f) ? f[TORCH_ONE_BLAS] : f[TORCH_DEFAULTS];
    }

    private static String fasterSettings(double[][] reps) {
        List<String> s = new ArrayList<>();
        for (double[] f : reps) s.add(oneBlasFaster(f) ? "OPENBLAS_NUM_THREADS=1" : "defaults");
        return String.join(" / ", s);
    }

    /**
     * A row over the repeats: the medians of figure {@code value} and of the baseline, and as ratio the median of the
     * repeats' own ratios (each measured minutes apart at most); the note lists every repeat's ratio.
     */
    static Bench.Result result(String name, double[][] reps, int value, java.util.function.ToDoubleFunction<double[]> baseline, String note) {
        double[] v = new double[reps.length], b = new double[reps.length], r = new double[reps.length];
        List<String> each = new ArrayList<>();
        for (int k = 0; k < reps.length; k++) {
            v[k] = reps[k][value];
            b[k] = baseline.applyAsDouble(reps[k]);
            r[k] = v[k] / b[k];
            each.add(String.format(Locale.ROOT, "%.2fx", r[k]));
        }
        return new Bench.Result(name, median(v), "rows/s", median(b), median(r),
                note + (reps.length > 1 ? "; ratio: median of " + reps.length + " repeats (" + String.join(" / ", each) + ")" : ""));
    }

    /** The median (the mean of the middle two for an even count); NaN if any value is NaN. */
    static double median(double[] x) {
        for (double d : x) if (Double.isNaN(d)) return Double.NaN;
        double[] s = x.clone();
        java.util.Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** Rows/s of PyTorch's loop ({@code bench/train_torch.py}) over the warm epochs with {@code env}, NaN without PyTorch. */
    static double torch(Case c, java.util.Map<String, String> env, String setting, PrintStream progress) {
        try {
            var json = Bench.python("train_torch.py", env, List.of(c.name(), Integer.toString(c.rows()), Integer.toString(c.epochs()),
                    Integer.toString(BATCH), "2", Integer.toString(c.warmup())));
            if (json == null) return Double.NaN; // no torch module
            double r = json.get("rows_per_s").asDouble();
            progress.printf(Locale.ROOT, "bench: train %s in PyTorch (%s): %,.0f rows/s%n", c.name(), setting, r);
            return r;
        } catch (java.io.IOException e) {
            return Double.NaN;
        }
    }

    /** The library Debian's alternatives give as libblas.so.3 (what PyTorch's generic-BLAS build calls). */
    static String blas() {
        try {
            return java.nio.file.Path.of("/etc/alternatives/libblas.so.3-x86_64-linux-gnu").toRealPath().toString();
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }

    static List<Example> rows(List<Example> all, int i) {
        return all.subList(0, CASES.get(i).rows());
    }

    /**
     * Rows/s of a DL4J fit() loop over minibatches held in memory, every core, over the warm epochs; with Squeeze's Adam
     * kernel and input-layer gradients as its training uses them ({@code javaAdam}) or DL4J's own.
     */
    static double inProcess(MultiLayerConfiguration conf, List<Example> rows, boolean javaAdam, PrintStream progress, Case c) {
        String name = c.name();
        List<DataSet> batches = batches(rows, name);
        MultiLayerNetwork net = new MultiLayerNetwork(conf.clone());
        net.init();
        if (javaAdam) io.squeeze.model.TrainingKernels.install(net); // as Squeeze's workers train
        Nd4jThreads.all();
        settle();
        double warm = 0;
        for (int e = 1; e <= c.epochs(); e++) {
            long t0 = System.nanoTime();
            net.fit(new ExistingDataSetIterator(batches));
            double s = (System.nanoTime() - t0) / 1e9;
            if (e > c.warmup()) warm += s;
            progress.printf(Locale.ROOT, "bench: train %s in process (%s Adam) epoch %d: %.1f s%n", name, javaAdam ? "Java" : "DL4J's", e, s);
        }
        return (double) rows.size() * c.measured() / warm;
    }

    /**
     * Rows/s of {@code threads} in-process {@code fit()} loops at once, each on its own thread with one ND4J thread (as a
     * Spark task has), its own network from {@code conf} and its own minibatches of {@code rows}, Squeeze's training
     * kernels installed: every loop fits the case's warm-up epochs, then all start the next together, and the figure is all
     * loops' rows of the epochs after those over the wall time until the last loop ends.
     */
    static double loops(MultiLayerConfiguration conf, List<Example> rows, int threads, PrintStream progress, Case c) {
        String name = c.name();
        var start = new java.util.concurrent.CyclicBarrier(threads + 1);
        var failed = new java.util.concurrent.atomic.AtomicReference<Throwable>();
        List<Thread> ts = new ArrayList<>();
        List<List<DataSet>> each = new ArrayList<>();
        for (int t = 0; t < threads; t++) each.add(batches(rows, name));
        settle();
        for (int t = 0; t < threads; t++) {
            List<DataSet> batches = each.get(t);
            Thread th = new Thread(() -> {
                try {
                    Nd4jThreads.set(1); // BLAS for the JVM, OpenMP for this thread
                    MultiLayerNetwork net = new MultiLayerNetwork(conf.clone());
                    net.init();
                    io.squeeze.model.TrainingKernels.install(net);
                    for (int e = 1; e <= c.warmup(); e++) net.fit(new ExistingDataSetIterator(batches));
                    start.await();
                    for (int e = c.warmup() + 1; e <= c.epochs(); e++) net.fit(new ExistingDataSetIterator(batches));
                } catch (Throwable e) {
                    failed.compareAndSet(null, e);
                    start.reset();
                }
            }, "bench-loop-" + t);
            th.start();
            ts.add(th);
        }
        try {
            start.await();
            long t0 = System.nanoTime();
            for (Thread th : ts) th.join();
            if (failed.get() != null) throw new IllegalStateException("bench loop failed: " + failed.get(), failed.get());
            double s = (System.nanoTime() - t0) / 1e9;
            progress.printf(Locale.ROOT, "bench: train %s, %d one-thread fit() loop(s) at once: %.1f s for epochs %d-%d%n", name, threads, s, c.warmup() + 1, c.epochs());
            return (double) threads * rows.size() * c.measured() / s;
        } catch (InterruptedException | java.util.concurrent.BrokenBarrierException e) {
            if (failed.get() != null) throw new IllegalStateException("bench loop failed: " + failed.get(), failed.get());
            throw new IllegalStateException("bench loops interrupted", e);
        }
    }

    static List<DataSet> batches(List<Example> rows, String name) {
        List<DataSet> batches = new ArrayList<>();
        var it = io.squeeze.data.Batches.of(rows.iterator(), BATCH, rows.get(0).features().length, "bench " + name);
        while (it.hasNext()) batches.add(SparkTrainer.oneHot(it.next(), rows.get(0).features().length, 10, "bench " + name));
        return batches;
    }

    /**
     * A full collection once a figure's data is in memory (the minibatches built; on Spark, after the first epoch, which
     * caches them), before its warm-up epochs. Otherwise the cached data, a few hundred MB on the heap, is copied out of
     * the young generation by whichever young collection comes next, wherever in the figure's epochs that falls (young
     * pauses of 160-290 ms were logged in the seconds after a Spark figure cached its data, {@code -Xlog:gc}, session
     * 57): a fixed cost that weighs twice as much in the shorter measured time of {@code local[2]} as in
     * {@code local[1]}'s. The previous figure's garbage goes with it.
     */
    static void settle() {
        System.gc();
    }

    /**
     * An unmeasured training on {@code local[2]} of the case's warm-up epochs, right before the two measured Spark
     * trainings. The in-process loops just before them train the same DL4J methods from other callers, and most likely
     * HotSpot recompiles what they share once Spark's workers call it: without this, whichever master came first ran
     * slower inside its measured epochs (the MLP's {@code local[2]} gave
     * 1.47-1.61x of {@code local[1]} measured first and 1.84-2.0x measured after a Spark training, docs/BENCHMARKS.md,
     * session 57).
     */
    static void warmSpark(MultiLayerConfiguration conf, List<Example> rows, PrintStream progress, Case c) {
        progress.printf(Locale.ROOT, "bench: train %s, %d unmeasured epochs on local[2] first (the JIT compiles the Spark path before either figure)%n",
                c.name(), c.warmup());
        onSpark("local[2]", conf, rows, progress, new Case(c.name(), c.arch(), c.rows(), 0, c.warmup()));
    }

    /** Rows/s of SparkTrainer on {@code master} over the measured epochs (from the end of the case's warm-up to the end of the last). */
    static double onSpark(String master, MultiLayerConfiguration conf, List<Example> rows, PrintStream progress, Case c) {
        String name = c.name();
        SparkSession s = SparkSession.builder().config(SparkSessions.defaults("squeeze bench train").setMaster(master)).getOrCreate();
        try {
            var jsc = SparkSessions.jsc(s);
            JavaRDD<Example> rdd = jsc.parallelize(rows, jsc.defaultParallelism()).cache();
            rdd.count();
            MultiLayerNetwork net = new MultiLayerNetwork(conf.clone());
            net.init();
            double[] seconds = new double[c.epochs() + 1];
            PrintWriter pw = new PrintWriter(progress, true);
            // each epoch's wall time as its progress line gives it: with several epochs to a barrier stage, its share of the stage's
            SparkTrainer.train(jsc, rdd, net, 784, 10, new SparkTrainer.Config(c.epochs(), BATCH, SparkTrainer.DEFAULT_SYNC_EVERY, 42, false),
                    "bench " + name + " on " + master, pw, new EpochWatcher<MultiLayerNetwork>() {
                        @Override
                        public void seconds(int epoch, double s) {
                            seconds[epoch] = s;
                        }

                        @Override
                        public boolean readsNetwork() {
                            return false;
                        }

                        @Override
                        public void accept(Integer epoch, MultiLayerNetwork n) {
                            if (epoch == 1) settle(); // the first epoch (its own stage) built the cache of minibatches
                        }
                    });
            rdd.unpersist(true); // blocking: the session stops next
            double warm = java.util.Arrays.stream(seconds, c.warmup() + 1, c.epochs() + 1).sum();
            progress.printf(Locale.ROOT, "bench: train %s on %s: %.1f s for epochs %d-%d%n", name, master, warm, c.warmup() + 1, c.epochs());
            return (double) rows.size() * c.measured() / warm;
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
