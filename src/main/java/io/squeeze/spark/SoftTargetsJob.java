package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.artifact.SoftTargetsStore;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.distill.Teacher;
import io.squeeze.distill.TeacherStream;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import java.io.PrintWriter;
import java.util.List;

/**
 * {@code squeeze soft-targets} as a job: the teacher is broadcast once and opened once per executor thread; each
 * partition streams its rows in fixed-size batches through it (memory per task is one batch, whatever the
 * partition's size) and emits one output row per input row, in the input's order: {@code id}, {@code label}
 * (null when unlabelled) and the teacher's logits — all of them ({@code logits}), or the K largest with their
 * class indices ({@code topk_index}, {@code topk_logits}, by decreasing logit, ties to the lower class).
 */
public final class SoftTargetsJob {
    static final int ROW_GROUP_BYTES = 16 << 20;

    private SoftTargetsJob() {}

    /**
     * {@code squeeze soft-targets} as a record, stored as the set's {@code config} and read back by {@code rerun}.
     *
     * @param teacher    the teacher (qualified URI): an artifact, DL4J zip, Keras .h5 or .onnx file
     * @param onnxInput  the ONNX input name, or null for the model's only input
     * @param onnxOutput the ONNX output name, or null for the model's only output
     * @param topK       keep the K largest logits (0: all)
     * @param batch      rows per teacher call
     * @param local      run the teacher in the driver process
     */
    public record Config(String teacher, String onnxInput, String onnxOutput, DataSpec data, int topK, int batch, boolean local) {
        public Config {
            if (teacher == null || teacher.isBlank()) throw new BadInputException("--teacher must be given");
            if (data == null) throw new BadInputException("--data must be given");
            if (topK < 0) throw new BadInputException("soft-targets.top-k must be >= 1, got " + topK);
            if (batch <= 0) throw new BadInputException("soft-targets.batch must be > 0, got " + batch);
        }

        /** Every path the job reads. */
        public List<String> inputs() {
            return List.of(teacher, data.path());
        }

        /** The teacher, loaded (before any Spark work). */
        public Teacher loadTeacher(Storage st) {
            return io.squeeze.artifact.Models.teacher(st, teacher, onnxInput, onnxOutput);
        }

        public java.util.Map<String, Object> toMap() {
            return Jobs.toMap(this);
        }

        /** Reads a set's stored config back, validated as when the command builds it. */
        public static Config fromMap(java.util.Map<String, Object> m, String where) {
            if (m == null) throw new BadInputException(where + " records no config (written before soft-target manifests had one)");
            return Jobs.read(m, Config.class, where);
        }
    }

    public record Result(SoftTargetsStore.Manifest manifest, double seconds) {
        public double rowsPerSecond() {
            return manifest.dataRows() / Math.max(seconds, 1e-9);
        }
    }

    public static StructType schema(int topK) {
        StructType s = new StructType().add("id", DataTypes.LongType, false).add("label", DataTypes.IntegerType, true);
        if (topK == 0) return s.add("logits", DataTypes.createArrayType(DataTypes.FloatType, false), false);
        return s.add("topk_index", DataTypes.createArrayType(DataTypes.IntegerType, false), false)
                .add("topk_logits", DataTypes.createArrayType(DataTypes.FloatType, false), false);
    }

    /** The K largest of {@code k} logits at {@code off}: indices by decreasing value, ties to the lower index. */
    static int[] topK(float[] z, int off, int k, int K) {
        int[] idx = new int[K];
        boolean[] used = new boolean[k];
        for (int r = 0; r < K; r++) {
            int best = -1;
            for (int j = 0; j < k; j++) if (!used[j] && (best < 0 || z[off + j] > z[off + best])) best = j;
            used[best] = true;
            idx[r] = best;
        }
        return idx;
    }

    /** One output row: id, label (null when unlabelled), all logits or the top K with their classes. */
    static Row row(TeacherStream.Labelled l, int topK) {
        Integer label = l.label() < 0 ? null : l.label();
        if (topK == 0) return RowFactory.create(l.id(), label, l.logits());
        int[] idx = topK(l.logits(), 0, l.logits().length, topK);
        float[] v = new float[topK];
        for (int j = 0; j < topK; j++) v[j] = l.logits()[idx[j]];
        return RowFactory.create(l.id(), label, idx, v);
    }

    /**
     * Runs {@code c} with its teacher {@code teacher} (loaded by {@link Config#loadTeacher}) and writes the set at
     * {@code out}; {@code c.local()} runs the teacher in this process: the rows stream to the driver in partition order
     * and one Parquet file is written there, with the same rows and logits as the executors write.
     */
    public static Result run(SparkSession spark, Config c, Teacher teacher, String out, boolean overwrite, List<String> command,
                             PrintWriter progress) {
        int topK = c.topK(), batch = c.batch();
        boolean local = c.local();
        DataSpec data = c.data();
        if (topK > teacher.numClasses())
            throw new BadInputException("soft-targets.top-k must be in [1, " + teacher.numClasses() + "] (the teacher's classes), got " + topK);
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        var outPath = io.squeeze.artifact.ArtifactWriter.checkTarget(st, out, overwrite);
        SparkData.Loaded d = SparkData.read(spark, data, teacher.numFeatures(), "teacher " + teacher.source());
        JavaSparkContext jsc = SparkSessions.jsc(spark);
        Broadcast<Teacher> bc = jsc.broadcast(teacher);
        int nf = teacher.numFeatures(), k = teacher.numClasses();
        String where = data.toString();
        BadRows bad = new BadRows(jsc);
        JavaRDD<Row> rows = d.rdd().mapPartitions(it -> {
            io.squeeze.core.FaultPoint.reachOnce(io.squeeze.core.FaultPoint.IN_TASK);
            Nd4jThreads.forTask();
            return bad.guard(TeacherStream.of(it, bc.value().open(), batch, nf, k, where, l -> row(l, topK)));
        });
        long t0 = System.nanoTime();
        jsc.setJobDescription("squeeze soft-targets: " + teacher.source() + " on " + where);
        try {
            SoftTargetsStore.Manifest m = SoftTargetsStore.write(st, outPath, overwrite, dir -> {
                // row groups of 16 MB: a writing task buffers at most one, whatever the partition's size
                if (local) {
                    Nd4jThreads.all();
                    LocalParquet.write(st, dir, schema(topK), TeacherStream.of(d.rdd().toLocalIterator(), teacher.open(), batch, nf, k, where,
                            l -> row(l, topK)), ROW_GROUP_BYTES);
                } else {
                    ParquetParts.write(jsc, st, spark.createDataFrame(rows, schema(topK)), dir, Integer.toString(ROW_GROUP_BYTES));
                }
                bad.check();
                // counts from what was written: the files' footers, or (no statistics) a scan
                var counts = ParquetCounts.of(spark.sparkContext().hadoopConfiguration(), dir, "label").orElseGet(() -> {
                    var written = spark.read().parquet(dir.toString());
                    return new ParquetCounts.Counts(written.count(), written.filter("label is not null").count());
                });
                if (counts.rows() == 0) throw new BadInputException("data " + where + " is empty (no rows)");
                return new SoftTargetsStore.Manifest(null, 1, null, null, teacher.source(), teacher.sha256(), teacher.kind(), where,
                        counts.rows(), counts.nonNull(), k, topK, command, c.toMap(), null);
            });
            double s = (System.nanoTime() - t0) / 1e9;
            progress.printf(java.util.Locale.ROOT, "soft-targets: %d rows (%d labelled), %d classes%s, %.1f s (%.0f rows/s)%n", m.dataRows(),
                    m.labelledRows(), k, topK == 0 ? "" : ", top " + topK, s, m.dataRows() / s);
            return new Result(m, s);
        } finally {
            jsc.clearJobGroup();
            if (jsc.isLocal()) Nd4jThreads.all();
            bc.destroy();
        }
    }
}
