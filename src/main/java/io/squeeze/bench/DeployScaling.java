package io.squeeze.bench;

import io.squeeze.model.NetPayload;
import io.squeeze.model.SparseDense;
import io.squeeze.spark.Nd4jThreads;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.PrintStream;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * Two parts of {@code jobs/bench deploy}: (1) the crossover of {@link SparseDense} against SGEMM — one layer of
 * 784×300 and of 1024×1024 at batch 256 on one thread, at densities 5–50 %, which sets
 * {@link SparseDense#MAX_DENSITY}; (2) scoring distributed over the session's task slots ({@code local[2]}): the
 * batches spread over one partition per slot, each task opening its own runtime with one thread (as
 * {@code predict} does), rows/s of the whole pass (best of 3 after a warm-up) against the one-thread rate; ideal
 * = the number of slots.
 */
final class DeployScaling {
    private DeployScaling() {}

    /** Opens a runtime inside a task. */
    interface Opener extends Serializable {
        DeployBench.Runner open();
    }

    static List<Bench.Result> sparseLayers(PrintStream progress) {
        List<Bench.Result> out = new ArrayList<>();
        Nd4jThreads.set(1);
        try {
            for (int[] shape : new int[][]{{784, 300}, {1024, 1024}}) {
                StringBuilder line = new StringBuilder();
                for (double d : new double[]{0.05, 0.1, 0.2, 0.3, 0.4, 0.5}) {
                    Nd4j.getRandom().setSeed(1);
                    INDArray w = Nd4j.randn(DataType.FLOAT, shape[0], shape[1]).dup('f'), bias = Nd4j.randn(DataType.FLOAT, 1, shape[1]); // DL4J's weight order
                    DeployBench.zeroSmallest(w, 1 - d);
                    float[] x = new float[DeployBench.BATCH * shape[0]];
                    java.util.Random r = new java.util.Random(2);
                    for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
                    List<float[]> batches = Collections.nCopies((int) Math.max(8, 6e9 / (2.0 * DeployBench.BATCH * shape[0] * shape[1])), x);
                    int n = batches.size() * DeployBench.BATCH;
                    SparseDense kernel = SparseDense.of(w, bias);
                    var target = Nd4j.createUninitialized(DataType.FLOAT, new long[]{DeployBench.BATCH, shape[1]}, 'f');
                    var xin = io.squeeze.model.NdRows.of(x, DeployBench.BATCH, shape[0]);
                    DeployBench.Runner kernelOnly = (b, rows) -> { kernel.multiply(xin, target); return new float[rows * DeployBench.CLASSES]; };
                    DeployBench.Runner sgemmOnly = (b, rows) -> { xin.mmul(w, target); return new float[rows * DeployBench.CLASSES]; };
                    double k = DeployBench.rowsPerSecond(kernelOnly, batches, shape[0], n), g = DeployBench.rowsPerSecond(sgemmOnly, batches, shape[0], n);
                    line.append(String.format(Locale.ROOT, " %.0f%%: %.2fx", 100 * d, k / g));
                    out.add(DeployBench.result(String.format(Locale.ROOT, "deploy.sparse_layer_rows_per_s[%dx%d,density %.2f,1 thread,batch %d]",
                            shape[0], shape[1], d, DeployBench.BATCH), k, g, "SparseDense kernel vs ND4J SGEMM on the same layer; >1 below the crossover"
                            + (d <= SparseDense.MAX_DENSITY ? " (DenseRuntime uses the kernel)" : " (DenseRuntime uses SGEMM)")));
                }
                progress.printf("bench: deploy sparse kernel vs SGEMM, %dx%d layer, batch %d:%s%n", shape[0], shape[1], DeployBench.BATCH, line);
            }
        } finally {
            Nd4jThreads.all();
        }
        return out;
    }

    static List<Bench.Result> run(SparkSession spark, String name, int features, List<float[]> batches, int n, NetPayload dense, NetPayload sparse,
                                  byte[] onnxFp32, byte[] onnxInt8, double denseOne, double sparseOne, double onnxOne, double int8One, PrintStream progress) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        int slots = jsc.defaultParallelism();
        String fp = dense.network().getLayer(0).conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer ? "dl4j" : "dense";
        String[] forms = {"fp32_" + fp, "sparse90_" + fp, "fp32_onnx", "int8_onnx"};
        Opener[] openers = {
                () -> DeployBench.squeezeFp32(dense.network(), features, true),
                () -> DeployBench.squeezeFp32(sparse.network(), features, true),
                () -> ort(onnxFp32, features),
                () -> ort(onnxInt8, features)};
        double[] one = {denseOne, sparseOne, onnxOne, int8One};
        List<Bench.Result> out = new ArrayList<>();
        StringBuilder line = new StringBuilder();
        for (int f = 0; f < forms.length; f++) {
            double rate = distributed(jsc, slots, openers[f], batches, features, n);
            line.append(String.format(Locale.ROOT, " %s %.0f (%.2fx)", forms[f], rate, rate / one[f]));
            out.add(DeployBench.result("deploy." + forms[f] + "_rows_per_s[" + name + ",local[" + slots + "] vs 1 thread,batch " + DeployBench.BATCH + "]",
                    rate, one[f], "scoring distributed over " + slots + " task slots, one runtime per task, vs one thread; ideal " + slots + "x"));
        }
        progress.printf("bench: deploy %s on %d task slots, rows/s:%s%n", name, slots, line);
        return out;
    }

    private static DeployBench.Runner ort(byte[] model, int features) {
        try {
            var r = DeployBench.ort(model, features);
            return r::logits;
        } catch (ai.onnxruntime.OrtException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Each slot scores the one-thread benchmark's rows this many times per pass, so that opening a runtime is amortized. */
    private static final int PASSES = 4;

    /** Rows/s of one pass: every slot scores {@link #PASSES} times the rows; best of 3 after a warm-up. */
    private static double distributed(JavaSparkContext jsc, int slots, Opener opener, List<float[]> batches, int features, int n) {
        List<float[]> all = new ArrayList<>();
        for (int i = 0; i < slots * PASSES; i++) all.addAll(batches);
        var rdd = jsc.parallelize(all, slots).cache();
        rdd.count();
        double best = Double.MAX_VALUE;
        for (int rep = 0; rep < 4; rep++) {
            long t0 = System.nanoTime();
            long rows = rdd.mapPartitions(it -> {
                Nd4jThreads.forTask();
                DeployBench.Runner r = opener.open();
                long c = 0;
                while (it.hasNext()) {
                    float[] b = it.next();
                    int k = b.length / features;
                    if (r.run(b, k).length != k * DeployBench.CLASSES) throw new IllegalStateException("wrong output size");
                    c += k;
                }
                return List.of(c).iterator();
            }).reduce(Long::sum);
            if (rows != (long) n * slots * PASSES) throw new IllegalStateException(rows + " rows scored, expected " + (long) n * slots * PASSES);
            if (rep > 0) best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        rdd.unpersist();
        return (double) n * slots * PASSES / best;
    }
}
