package io.squeeze.bench;

import io.squeeze.core.BadInputException;
import io.squeeze.spark.AugmentJob;
import io.squeeze.data.Batches;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;
import io.squeeze.data.Split;
import io.squeeze.distill.Teacher;
import io.squeeze.distill.Teachers;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.SourceKind;
import io.squeeze.spark.SoftTargetsJob;
import io.squeeze.spark.SparkData;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.File;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Soft targets of a 2×1200 MLP teacher (2.4 M parameters) over MNIST enlarged with random shifts (Parquet, made
 * once with {@code squeeze augment} under target/bench-data: 120,000 and 1,020,000 rows):
 * <ol>
 * <li>the distributed job (read Parquet, label, write Parquet) on local[2] vs in-process batched inference of the
 * same teacher over the same 120,000 rows held in memory, on the same 2 cores (goal ≥ 0.9×);</li>
 * <li>local[1] vs local[2] on the 120,000 rows (fresh Spark contexts; goal ≥ 1.7×);</li>
 * <li>the live heap (in use right after a full collection, sampled every second; the peak) for 120,000 vs
 * 1,020,000 rows — memory per executor must not grow with the data.</li>
 * </ol>
 */
final class SoftTargetsBench implements Bench.Benchmark {
    static final String SMALL = "target/bench-data/mnist-shift-120k", LARGE = "target/bench-data/mnist-shift-1m";


    static void ensure(String path, int copies, PrintStream progress) {
        if (new File(path, "_SUCCESS").isFile() || new File(path).isDirectory()) return;
        if (!new File("data/mnist/train-images-idx3-ubyte").isFile() && !new File("data/mnist/train-images-idx3-ubyte.gz").isFile())
            throw new BadInputException("the soft-targets benchmark needs MNIST in data/mnist: run jobs/get-mnist");
        progress.println("bench: writing " + path + " (squeeze augment, " + copies + " copies of MNIST's 60,000 rows)");
        AugmentJob.run(SparkSessions.start("squeeze bench"), new AugmentJob.Config(
                io.squeeze.data.DataSpec.parse("idx:data/mnist", io.squeeze.data.Split.TRAIN, false), copies, 2, null, false, 7, 8, false), path, false,
                List.of("bench"));
    }

    static Teacher teacher() {
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.Mlp(new int[]{1200, 1200}), 784, 10, null,
                new Architectures.Hyper(1, 1e-3, 0), null));
        net.init();
        return Teachers.of(new LoadedModel(net, new ModelMeta(784, 10, null, Normalizer.NONE, "bench"), "", "bench-teacher-2x1200", SourceKind.DL4J_ZIP, 0));
    }

    /**
     * The peak live heap while {@code r} runs: every second a full collection, then the heap in use (what is still
     * reachable), the largest of those samples.
     */
    static long peakLiveHeap(Runnable r) {
        long[] peak = {0};
        Thread t = new Thread(() -> {
            var mem = ManagementFactory.getMemoryMXBean();
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException e) {
                    return;
                }
                System.gc();
                peak[0] = Math.max(peak[0], mem.getHeapMemoryUsage().getUsed());
            }
        });
        t.setDaemon(true);
        t.start();
        try {
            r.run();
        } finally {
            t.interrupt();
        }
        return peak[0];
    }

    static double softTargets(SparkSession spark, Teacher t, String data, String out) {
        SoftTargetsJob.Config c = new SoftTargetsJob.Config(t.source(), null, null, DataSpec.parse("parquet:" + data, Split.TRAIN, false), 0, 256, false);
        SoftTargetsJob.Result r = SoftTargetsJob.run(spark, c, t, out, true, List.of("bench"), new PrintWriter(java.io.Writer.nullWriter()));
        return r.rowsPerSecond();
    }

    @Override
    public List<Bench.Result> run(SparkSession spark, PrintStream progress) {
        ensure(SMALL, 2, progress);
        ensure(LARGE, 17, progress);
        Teacher t = teacher();
        // in-process: the same rows in memory, batches of 256 through the same teacher on all cores
        List<Example> rows = SparkData.read(spark, DataSpec.parse("parquet:" + SMALL, Split.TRAIN, false), 784, "bench").rdd().collect();
        List<Double> dist = new ArrayList<>(), local = new ArrayList<>();
        for (int rep = 0; rep < 6; rep++) {
            double d = softTargets(spark, t, SMALL, "target/bench-out/soft-120k");
            io.squeeze.spark.Nd4jThreads.all();
            Teacher.Runner runner = t.open();
            long t0 = System.nanoTime();
            long n = 0;
            for (Iterator<Batches.Batch> it = Batches.of(rows.iterator(), 256, 784, "bench"); it.hasNext(); ) {
                Batches.Batch b = it.next();
                n += runner.logits(b.features(), b.rows()).length / 10;
            }
            double l = n / ((System.nanoTime() - t0) / 1e9);
            progress.printf("bench: soft-targets run %d%s: distributed %.0f rows/s, in-process %.0f rows/s%n", rep, rep == 0 ? " (warm-up)" : "", d, l);
            if (rep > 0) {
                dist.add(d);
                local.add(l);
            }
        }
        rows = null;
        long[] heap = new long[2];
        double[] largeRate = new double[1];
        heap[0] = peakLiveHeap(() -> softTargets(spark, t, SMALL, "target/bench-out/soft-120k"));
        heap[1] = peakLiveHeap(() -> largeRate[0] = softTargets(spark, t, LARGE, "target/bench-out/soft-1m"));
        progress.printf("bench: soft-targets 1.02M rows: %.0f rows/s; live heap peak %d MB (120k: %d MB)%n", largeRate[0], heap[1] >> 20, heap[0] >> 20);
        spark.stop();
        // {master, spark.task.cpus}; the third: two cores as one task, ND4J given both inside it (Nd4jThreads.forTask)
        String[][] runs = {{"local[1]", "1"}, {"local[2]", "1"}, {"local[2]", "2"}};
        double[] rate = new double[runs.length];
        for (int k = 0; k < runs.length; k++) {
            SparkSession s = SparkSession.builder().config(SparkSessions.defaults("squeeze bench soft-targets").setMaster(runs[k][0])
                    .set("spark.task.cpus", runs[k][1])).getOrCreate();
            softTargets(s, t, SMALL, "target/bench-out/soft-120k"); // warm-up
            rate[k] = Math.max(softTargets(s, t, SMALL, "target/bench-out/soft-120k"), softTargets(s, t, SMALL, "target/bench-out/soft-120k"));
            progress.printf("bench: soft-targets on %s, spark.task.cpus=%s: %.0f rows/s%n", runs[k][0], runs[k][1], rate[k]);
            s.stop();
        }
        double md = EvaluateBench.median(dist), ml = EvaluateBench.median(local);
        return List.of(
                new Bench.Result("soft_targets.rows_per_s[local[2]]", md, "rows/s", ml, md / ml,
                        "Parquet in, Parquet out, 120,000 rows, 2x1200 teacher, median of 5; baseline: in-process batched inference on the same cores; goal >= 0.9x"),
                new Bench.Result("soft_targets.scaling[local[2] vs local[1]]", rate[1], "rows/s", rate[0], rate[1] / rate[0], "best of 2 after a warm-up; goal >= 1.7x"),
                new Bench.Result("soft_targets.scaling[local[2] task.cpus=2 vs local[1]]", rate[2], "rows/s", rate[0], rate[2] / rate[0],
                        "both cores as one task, ND4J given both (spark.task.cpus=2); best of 2 after a warm-up"),
                new Bench.Result("soft_targets.rows_per_s[1.02M rows]", largeRate[0], "rows/s", md, largeRate[0] / md, "the 1,020,000-row set vs the 120,000-row one"),
                new Bench.Result("soft_targets.live_heap_MB[1.02M vs 120k rows]", heap[1] / 1e6, "MB", heap[0] / 1e6, heap[1] / (double) Math.max(1, heap[0]),
                        "peak heap still reachable after a full GC, sampled every second while the job runs (executor = driver JVM in local mode); ~1x = does not grow with the data"));
    }
}
