package io.squeeze.spark;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.artifact.OnnxExport;
import io.squeeze.artifact.PartFiles;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Normalizer;
import io.squeeze.distill.Teacher;
import io.squeeze.distill.TeacherStream;
import io.squeeze.distill.Teachers;
import io.squeeze.model.DenseRuntime;
import io.squeeze.model.Json;
import io.squeeze.model.NdRows;
import io.squeeze.model.NetPayload;
import io.squeeze.quantize.QuantRunner;
import io.squeeze.quantize.QuantizedModel;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import java.io.PrintWriter;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;

/**
 * {@code squeeze predict}: batch scoring on Spark. The model is resolved to one {@link Scorer} in the driver and
 * broadcast once; each task opens its own runtime (a DL4J network, {@link DenseRuntime}, the integer-arithmetic
 * {@link QuantRunner}, or an ONNX Runtime session with one intra-op thread) and streams its partition through it in
 * fixed-size batches (memory per task is one batch). One output row per input row, in the input's order: {@code id},
 * {@code label} (null when unlabelled), {@code prediction} (the arg max, ties to the lower class), {@code probability}
 * (the model's output for it), and optionally every class's output ({@code probabilities}) or the K best
 * ({@code topk_index}, {@code topk_probability}). Written as deterministic parts ({@link ParquetParts}) with
 * {@code _predictions.json} and {@code _SUCCESS} last, atomically where the filesystem renames atomically.
 */
public final class PredictJob {
    public static final String MANIFEST = "_predictions.json";

    private PredictJob() {}

    /** The runtimes a model can be scored with; {@code AUTO} picks {@link #resolve}'s default. */
    public enum Runtime { AUTO, DL4J, DENSE, INTEGER, ONNX }

    /**
     * {@code squeeze predict} as a record.
     *
     * @param model         an artifact, DL4J zip, Keras .h5 or .onnx file (qualified URI)
     * @param topK          also write the K best classes (0: no)
     * @param probabilities also write every class's output
     * @param batch         rows per runtime call
     */
    public record Config(String model, DataSpec data, Runtime runtime, int topK, boolean probabilities, int batch) implements Serializable {
        public Config {
            if (model == null || model.isBlank()) throw new BadInputException("--model must be given");
            if (data == null) throw new BadInputException("--data must be given");
            if (runtime == null) runtime = Runtime.AUTO;
            if (topK < 0) throw new BadInputException("predict.top-k must be >= 1, got " + topK);
            if (batch <= 0) throw new BadInputException("predict.batch must be > 0, got " + batch);
        }

    }

    /** A model ready for executors: each task opens its own runner of raw rows → outputs (row-major, k per row). */
    public sealed interface Scorer extends Serializable {
        Teacher.Runner open();
    }

    /** DL4J's {@code output()} ({@code dense}: {@link DenseRuntime}) after the model's normalization. */
    record Network(NetPayload payload, Normalizer normalizer, int numFeatures, boolean dense) implements Scorer {
        @Override
        public Teacher.Runner open() {
            if (payload.isGraph()) {
                var g = payload.graph();
                return (x, rows) -> NdRows.toRowMajor(g.outputSingle(false, NdRows.of(normalizer.appliedRows(x, rows), rows, numFeatures)));
            }
            var net = payload.network();
            if (dense) {
                DenseRuntime rt = DenseRuntime.of(net).orElseThrow();
                return (x, rows) -> rt.output(normalizer.appliedRows(x, rows), rows, numFeatures);
            }
            return (x, rows) -> NdRows.toRowMajor(net.output(NdRows.of(normalizer.appliedRows(x, rows), rows, numFeatures), false));
        }
    }

    /** The integer-arithmetic path, as {@code evaluate} scores a quantized artifact. */
    record Quantized(QuantizedModel model, Normalizer normalizer, int numFeatures) implements Scorer {
        @Override
        public Teacher.Runner open() {
            QuantRunner r = new QuantRunner(model);
            return (x, rows) -> r.run(normalizer.appliedRows(x, rows), rows, numFeatures, QuantRunner.Path.INTEGER, null);
        }
    }

    /** An ONNX model in ONNX Runtime (its normalization, if any, is in the graph). */
    record Onnx(Teacher.Onnx session) implements Scorer {
        @Override
        public Teacher.Runner open() {
            return session.open();
        }
    }

    /** The scorer with what it is: the runtime chosen, the model's width, classes, source and sha256. */
    public record Resolved(Scorer scorer, Runtime runtime, int numFeatures, int numClasses, String source, String sha256) {}

    /**
     * Loads the model and picks its runtime (before any Spark work). {@code AUTO} is ONNX Runtime — on a {@code .onnx}
     * file, or on the model exported as {@code export --format onnx} does — because it measured fastest for every
     * form {@code jobs/bench deploy} measures (static int8 QDQ 3.3–6.8× Squeeze's pure-Java integer path with the
     * same integer arithmetic; fp32 1.06–1.24× {@link DenseRuntime} on MLPs, 40× DL4J on LeNet-5); a model the export
     * does not take falls back to the integer
     * path for integer layers, else {@link DenseRuntime} where it runs the network, else DL4J. The exception is a
     * pruned float network whose {@link DenseRuntime} runs at least {@link #SPARSE_SHARE} of its multiply-adds in the
     * sparse kernel: it runs there ({@code dense}), which measured 2.4× and 3.2× ONNX Runtime's fp32 on 90 %-sparse
     * MLPs. A runtime that cannot run the model is refused naming both.
     */
    static final double SPARSE_SHARE = 0.5;

    public static Resolved resolve(Storage st, String model, Runtime runtime) {
        if (model.toLowerCase(Locale.ROOT).endsWith(".onnx")) {
            if (runtime != Runtime.AUTO && runtime != Runtime.ONNX)
                throw new BadInputException("--runtime " + runtime.name().toLowerCase(Locale.ROOT) + " cannot run " + model + " (an ONNX model runs in onnx)");
            Teacher.Onnx t = (Teacher.Onnx) Teachers.onnx(st, model, null, squeezeOutput(st, model));
            return new Resolved(new Onnx(t), Runtime.ONNX, t.numFeatures(), t.numClasses(), t.source(), t.sha256());
        }
        Loaded m = Models.loadRunnable(st, model, true);
        var lm = m.model();
        int nf = lm.meta().numFeatures(), k = lm.meta().numClasses();
        if (lm.isGraph()) { // a graph runs in ONNX Runtime (its float or QDQ export), else in DL4J (float) or the integer runtime (quantized)
            boolean quantized = m.quant() != null;
            Runtime other = quantized ? Runtime.INTEGER : Runtime.DL4J;
            if (runtime != Runtime.AUTO && runtime != Runtime.ONNX && runtime != other)
                throw new BadInputException("--runtime " + runtime.name().toLowerCase(Locale.ROOT) + " cannot run " + model + ", a "
                        + (quantized ? "quantized" : "branching") + " graph (it runs in onnx or " + other.name().toLowerCase(Locale.ROOT) + ")");
            if (runtime != other) {
                try {
                    byte[] onnx = OnnxExport.export(m).bytes();
                    return new Resolved(new Onnx(new Teacher.Onnx(UUID.randomUUID().toString(), onnx, "input", "output", new long[]{-1, nf}, nf, k,
                            lm.source(), lm.sha256())), Runtime.ONNX, nf, k, lm.source(), lm.sha256());
                } catch (BadInputException e) {
                    if (runtime == Runtime.ONNX) throw e;
                }
            }
            Scorer s = quantized ? new Quantized(m.quant(), lm.meta().normalizer(), nf) : new Network(NetPayload.of(lm), lm.meta().normalizer(), nf, false);
            return new Resolved(s, other, nf, k, lm.source(), lm.sha256());
        }
        boolean integer = m.quant() != null && m.quant().plan().hasIntegerLayers();
        var denseRuntime = DenseRuntime.of(lm.net());
        boolean dense = denseRuntime.isPresent();
        Runtime r = runtime;
        byte[] onnx = null;
        if (r == Runtime.AUTO && !integer && denseRuntime.map(DenseRuntime::sparseShare).orElse(0.0) >= SPARSE_SHARE) {
            r = Runtime.DENSE; // pruned: the sparse kernel beats ONNX Runtime's dense GEMM
        } else if (r == Runtime.AUTO) {
            try {
                onnx = OnnxExport.export(m).bytes();
                r = Runtime.ONNX;
            } catch (BadInputException e) { // a model the export does not take runs in Squeeze's own runtimes
                r = integer ? Runtime.INTEGER : dense ? Runtime.DENSE : Runtime.DL4J;
            }
        }
        byte[] exported = onnx;
        Scorer s = switch (r) {
            case INTEGER -> {
                if (!integer) throw new BadInputException("--runtime integer needs a quantized model; " + lm.source() + " has no integer layers");
                yield new Quantized(m.quant(), lm.meta().normalizer(), nf);
            }
            case DENSE -> {
                if (!dense) throw new BadInputException("--runtime dense runs networks of dense, output, activation and dropout layers only; "
                        + lm.source() + " has others (use dl4j)");
                yield new Network(NetPayload.of(lm.net()), lm.meta().normalizer(), nf, true);
            }
            case DL4J -> new Network(NetPayload.of(lm.net()), lm.meta().normalizer(), nf, false);
            case ONNX -> new Onnx(new Teacher.Onnx(UUID.randomUUID().toString(), exported != null ? exported : OnnxExport.export(m).bytes(), "input", "output",
                    new long[]{-1, nf}, nf, k, lm.source(), lm.sha256()));
            case AUTO -> throw new IllegalStateException("resolved above");
        };
        return new Resolved(s, r, nf, k, lm.source(), lm.sha256());
    }

    /** "output" for a model Squeeze exported (it also has "logits"), else null: the model's only output. */
    private static String squeezeOutput(Storage st, String path) {
        try (var s = ai.onnxruntime.OrtEnvironment.getEnvironment().createSession(st.readAll(st.path(path), "ONNX model"))) {
            return s.getOutputNames().contains("output") && s.getOutputNames().contains("logits") ? "output" : null;
        } catch (ai.onnxruntime.OrtException e) {
            throw new BadInputException("model " + path + " is not a valid ONNX model (" + e.getMessage() + ")");
        }
    }

    public static StructType schema(Config c) {
        StructType s = new StructType().add("id", DataTypes.LongType, false).add("label", DataTypes.IntegerType, true)
                .add("prediction", DataTypes.IntegerType, false).add("probability", DataTypes.FloatType, false);
        if (c.probabilities()) s = s.add("probabilities", DataTypes.createArrayType(DataTypes.FloatType, false), false);
        if (c.topK() > 0)
            s = s.add("topk_index", DataTypes.createArrayType(DataTypes.IntegerType, false), false)
                    .add("topk_probability", DataTypes.createArrayType(DataTypes.FloatType, false), false);
        return s;
    }

    static Row row(TeacherStream.Labelled l, Config c) {
        float[] p = l.logits();
        int[] best = SoftTargetsJob.topK(p, 0, p.length, Math.max(1, c.topK()));
        List<Object> v = new ArrayList<>(List.of(l.id()));
        v.add(l.label() < 0 ? null : l.label());
        v.add(best[0]);
        v.add(p[best[0]]);
        if (c.probabilities()) v.add(p);
        if (c.topK() > 0) {
            float[] tp = new float[best.length];
            for (int j = 0; j < best.length; j++) tp[j] = p[best[j]];
            v.add(best);
            v.add(tp);
        }
        return RowFactory.create(v.toArray());
    }

    /**
     * Runs the job and writes the predictions at {@code out}; returns the rows written. {@code c.topK()} must be at most
     * the model's classes (the command checks it against {@code m} before Spark starts).
     */
    public static long run(SparkSession spark, Config c, Resolved m, String out, boolean overwrite, List<String> command, PrintWriter progress) {
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        Path outPath = ArtifactWriter.checkTarget(st, out, overwrite);
        SparkData.Loaded d = SparkData.read(spark, c.data(), m.numFeatures(), "model " + m.source());
        JavaSparkContext jsc = SparkSessions.jsc(spark);
        Broadcast<Scorer> bc = jsc.broadcast(m.scorer());
        int nf = m.numFeatures(), k = m.numClasses(), batch = c.batch();
        String where = c.data().toString();
        BadRows bad = new BadRows(jsc);
        JavaRDD<Row> rows = d.rdd().mapPartitions(it -> {
            Nd4jThreads.forTask();
            return bad.guard(TeacherStream.of(it, bc.value().open(), batch, nf, k, where, l -> row(l, c)));
        });
        long t0 = System.nanoTime();
        jsc.setJobDescription("squeeze predict: " + m.source() + " on " + where);
        long[] count = new long[1];
        try {
            st.publish(outPath, overwrite, dir -> {
                ParquetParts.write(jsc, st, spark.createDataFrame(rows, schema(c)), dir, Integer.toString(SoftTargetsJob.ROW_GROUP_BYTES));
                bad.check();
                var counts = ParquetCounts.of(spark.sparkContext().hadoopConfiguration(), dir, "label")
                        .orElseGet(() -> new ParquetCounts.Counts(spark.read().parquet(dir.toString()).count(), -1));
                if (counts.rows() == 0) throw new BadInputException("data " + where + " is empty (no rows)");
                count[0] = counts.rows();
                var files = PartFiles.records(st, dir, "prediction part");
                Map<String, Object> manifest = new LinkedHashMap<>();
                manifest.put("format", "squeeze-predictions");
                manifest.put("version", 1);
                manifest.put("model", m.source());
                manifest.put("model_sha256", m.sha256());
                manifest.put("runtime", m.runtime().name().toLowerCase(Locale.ROOT));
                manifest.put("data", where);
                manifest.put("rows", counts.rows());
                manifest.put("classes", k);
                manifest.put("config", Jobs.toMap(c));
                manifest.put("command", command);
                manifest.put("files", files);
                PartFiles.seal(st, dir, MANIFEST, Json.bytes(manifest));
            });
            double s = (System.nanoTime() - t0) / 1e9;
            progress.printf(Locale.ROOT, "predict: %d rows, %d classes, runtime %s, %.1f s (%.0f rows/s)%n", count[0], k,
                    m.runtime().name().toLowerCase(Locale.ROOT), s, count[0] / s);
            return count[0];
        } finally {
            jsc.clearJobGroup();
            if (jsc.isLocal()) Nd4jThreads.all();
            bc.destroy();
        }
    }
}
