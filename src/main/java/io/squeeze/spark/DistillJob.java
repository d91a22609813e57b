package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.SoftTargetsStore;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Normalization;
import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;
import io.squeeze.distill.KdLoss;
import io.squeeze.distill.KdLossKernel;
import io.squeeze.distill.Teacher;
import io.squeeze.distill.Teachers;
import io.squeeze.distill.TeacherStream;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.Surgery;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.impl.LossMCXENT;
import scala.Tuple2;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

/**
 * Distillation on Spark. Offline: stored soft targets are joined to the (normalized) features by row id and the
 * student trains with parameter averaging under the {@link KdLoss} (labels carry the hard label and the teacher's
 * logits). Online (deep mutual learning, Zhang et al. 2018): each epoch the teacher's logits label the data for one
 * student epoch, then the student's logits label it for one teacher epoch — both learn from the labels and from each
 * other's softened outputs (the exchange is per epoch, computed on executors, rather than per minibatch).
 */
public final class DistillJob {
    private DistillJob() {}

    /** Offline (stored soft targets) or online (deep mutual learning with a teacher that trains alongside). */
    public enum Mode {
        OFFLINE, ONLINE;

        @com.fasterxml.jackson.annotation.JsonValue
        String json() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        @com.fasterxml.jackson.annotation.JsonCreator
        static Mode of(String s) {
            return valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
        }
    }

    /**
     * {@code squeeze distill} as a record: everything the command runs, stored as the artifact's {@code config}.
     *
     * @param softTargets stored soft targets (offline), or null
     * @param teacher     the teacher model (online), or null
     * @param student     an architecture ({@code mlp:…}, {@code lenet5}, a JSON file) or an existing model's URI
     * @param normalize   a new student's input normalization
     * @param hint        FitNets hint {@code TEACHER_LAYER:STUDENT_LAYER} (offline), or null
     * @param evalData    data to evaluate the student against the teacher on, or null
     */
    public record Config(Mode mode, String softTargets, String teacher, DataSpec data, String student, double temperature, double alpha,
                         SparkTrainer.Config training, double lr, long seed, double dropout, Normalization normalize, String hint,
                         double hintWeight, String evalData) implements JobConfig {
        public Config {
            if (mode == null) throw new BadInputException("distill needs --soft-targets P or --teacher T --online");
            if (mode == Mode.ONLINE && (teacher == null || softTargets != null)) throw new BadInputException("distill --online needs --teacher T");
            if (mode == Mode.OFFLINE && (softTargets == null || teacher != null))
                throw new BadInputException("distill --teacher needs --online (or use --soft-targets)");
            if (data == null) throw new BadInputException("--data must be given");
            if (student == null || student.isBlank()) throw new BadInputException("--student must be given");
            new KdLossKernel(alpha, temperature); // validates both
            if (training == null) throw new BadInputException("--epochs must be given");
            if (hint != null && mode == Mode.ONLINE) throw new BadInputException("distill --hint applies to offline distillation (--soft-targets)");
            if (hint != null) Hint.parse(hint, hintWeight);
            if (normalize == null) normalize = Normalization.NONE;
        }

        @Override
        public String source() {
            return student;
        }

        @Override
        public List<String> inputs() {
            List<String> in = new java.util.ArrayList<>();
            if (softTargets != null) in.add(softTargets);
            if (teacher != null) in.add(teacher);
            if (!isArch(student)) in.add(student);
            return in;
        }

        @Override
        public ArtifactWriter.Content run(SparkSession spark, String out, List<String> argv, PrintWriter progress) {
            return DistillRun.execute(spark, this, out, argv, progress).student();
        }
    }

    /** The student's artifact content, and the updated teacher's after online distillation (else null). */
    public record Outcome(ArtifactWriter.Content student, ArtifactWriter.Content teacher) {}

    /** Runs {@code c}; see {@link DistillRun}. */
    public static Outcome execute(SparkSession spark, Config c, String out, List<String> argv, PrintWriter progress) {
        return DistillRun.execute(spark, c, out, argv, progress);
    }

    /** Whether {@code s} names an architecture rather than a model path. */
    public static boolean isArch(String s) {
        return io.squeeze.model.Arch.isArchitecture(s);
    }

    /** (features normalized, hard label or -1) joined with teacher logits of width k. */
    public record Joined(JavaRDD<Tuple2<Example, float[]>> rows, long count) {}

    /** Stored soft targets as (id → logits over all k classes; top-k sets get −∞ elsewhere). */
    public static JavaPairRDD<Long, float[]> read(SparkSession spark, String path, SoftTargetsStore.Manifest m) {
        int k = m.classes(), top = m.topK();
        return spark.read().parquet(path).javaRDD()
                .mapToPair(r -> new Tuple2<>(r.getLong(0), logits(r, k, top)));
    }

    static float[] logits(Row r, int k, int top) {
        float[] z = new float[k];
        if (top == 0) {
            List<Object> l = r.getList(2);
            if (l.size() != k) throw new BadInputException("soft-target row " + r.getLong(0) + " has " + l.size() + " logits, expected " + k);
            for (int j = 0; j < k; j++) z[j] = ((Number) l.get(j)).floatValue();
            return z;
        }
        Arrays.fill(z, Float.NEGATIVE_INFINITY);
        List<Object> idx = r.getList(2), v = r.getList(3);
        for (int j = 0; j < idx.size(); j++) z[((Number) idx.get(j)).intValue()] = ((Number) v.get(j)).floatValue();
        return z;
    }

    /** Joins rows with logits by id; every data row must find its soft target. */
    public static Joined join(JavaRDD<Example> rows, long dataRows, JavaPairRDD<Long, float[]> logits, String what, String data) {
        JavaRDD<Tuple2<Example, float[]>> j = rows.mapToPair(e -> new Tuple2<>(e.id(), e)).join(logits).values()
                .persist(StorageLevel.MEMORY_AND_DISK_SER());
        long n = j.count();
        if (n != dataRows) {
            j.unpersist(false);
            throw new BadInputException(what + " do not fit data " + data + ": only " + n + " of its " + dataRows
                    + " row ids join (soft targets from another dataset?)");
        }
        return new Joined(j, n);
    }

    /**
     * Minibatches of raw rows normalized with {@code norm}, whose labels are [hard one-hot | teacher logits | labelled]
     * rows ({@link KdLoss#labels}).
     */
    public static JavaRDD<DataSet> minibatches(JavaRDD<Tuple2<Example, float[]>> rows, Normalizer norm, int nf, int k, int batch, String where) {
        return rows.mapPartitions(it -> io.squeeze.core.Pulling.of(it, src -> {
            float[] x = new float[batch * nf], y = new float[batch * (2 * k + 1)];
            int n = 0;
            while (n < batch && src.hasNext()) {
                Tuple2<Example, float[]> t = src.next();
                Example e = t._1();
                if (e.features().length != nf) throw new BadInputException(where + " row " + e.id() + " has " + e.features().length + " features, expected " + nf);
                if (e.label() >= k) throw new BadInputException(where + " row " + e.id() + ": label " + e.label() + " is out of range for " + k + " classes");
                System.arraycopy(e.features(), 0, x, n * nf, nf);
                KdLoss.labels(y, n * (2 * k + 1), e.label(), t._2(), 0, k);
                n++;
            }
            float[] xs = Arrays.copyOf(x, n * nf);
            if (!norm.isIdentity()) norm.applyRows(xs, n);
            return new DataSet(Nd4j.create(xs, new long[]{n, nf}, 'c'),
                    Nd4j.create(Arrays.copyOf(y, n * (2 * k + 1)), new long[]{n, 2 * k + 1}, 'c'));
        }));
    }

    /**
     * Trains {@code student} on joined raw rows under the KD loss; returns it with its usual loss (MCXENT) back.
     * {@code afterEpoch} sees the network being trained, with the KD loss.
     */
    public static MultiLayerNetwork train(JavaSparkContext jsc, JavaRDD<Tuple2<Example, float[]>> rows, MultiLayerNetwork student, Normalizer norm,
                                          int nf, int k, KdLossKernel kd, SparkTrainer.Config cfg, String where, PrintWriter progress,
                                          java.util.function.BiConsumer<Integer, MultiLayerNetwork> afterEpoch) {
        MultiLayerNetwork kdNet = Surgery.withLoss(student, new KdLoss(kd, k));
        JavaRDD<DataSet> data = minibatches(RoundRobin.spread(rows, jsc.defaultParallelism()), norm, nf, k, cfg.batchSize(), where);
        MultiLayerNetwork trained = SparkTrainer.fit(jsc, data, kdNet, cfg, where, progress, afterEpoch);
        return Surgery.withLoss(trained, new LossMCXENT());
    }

    /**
     * A broadcast network's logits on raw rows (its own normalization applied inside), as (id → logits); the caller
     * destroys the broadcast once the rows are consumed.
     */
    static JavaPairRDD<Long, float[]> logitsOf(JavaRDD<Example> raw, Broadcast<Teacher> bc, int batch, String where) {
        int nf = bc.value().numFeatures(), k = bc.value().numClasses();
        return raw.mapPartitionsToPair(it -> {
            Nd4jThreads.forTask();
            return TeacherStream.of(it, bc.value().open(), batch, nf, k, where, l -> new Tuple2<>(l.id(), l.logits()));
        });
    }

    /** The networks after online distillation: the student, and a layer-stack teacher (null for a graph teacher, which is not written). */
    public record Mutual<S>(S student, MultiLayerNetwork teacher) {}

    /** One student epoch on rows joined to the teacher's logits, under the KD loss; returns the student with its cross-entropy loss back. */
    interface StudentEpoch<S> {
        S train(JavaRDD<Tuple2<Example, float[]>> rows, S student, SparkTrainer.Config one);
    }

    /** The teacher of online distillation, loaded to run and train: a quantized graph is refused (its float graph trains). */
    static io.squeeze.artifact.Loaded onlineTeacher(io.squeeze.core.Storage st, Config c) {
        io.squeeze.artifact.Loaded t = io.squeeze.artifact.Models.loadRunnable(st, c.teacher(), true);
        if (t.model().isGraph() && t.quant() != null)
            throw new BadInputException("distill --online trains the teacher; " + c.teacher() + " is a quantized graph: give its float graph");
        return t;
    }

    /** {@link #mutual} with a layer-stack student. */
    public static Mutual<MultiLayerNetwork> online(JavaSparkContext jsc, JavaRDD<Example> raw, long dataRows, MultiLayerNetwork student, ModelMeta sm,
                                                   LoadedModel teacher, KdLossKernel kd, SparkTrainer.Config cfg, String where, PrintWriter progress,
                                                   java.util.function.BiConsumer<Integer, MultiLayerNetwork> afterEpoch) {
        int nf = sm.numFeatures(), k = sm.numClasses();
        return mutual(jsc, raw, dataRows, student, n -> new LoadedModel(n, sm, "", "student", io.squeeze.model.SourceKind.ARTIFACT, 0),
                (rows, n, one) -> train(jsc, rows, n, sm.normalizer(), nf, k, kd, one, where, progress, (ep, x) -> { }),
                teacher, kd, cfg, where, progress, afterEpoch);
    }

    /**
     * Deep mutual learning (Zhang et al. 2018), one epoch at a time: teacher logits → a student epoch
     * ({@code studentEpoch}); student logits → a teacher epoch. {@code raw} are un-normalized rows; each network applies
     * its own normalization. {@code asModel} gives the student as a teacher for its logits; {@code afterEpoch} sees the
     * student at the end of each epoch (after the teacher's half of it).
     */
    static <S> Mutual<S> mutual(JavaSparkContext jsc, JavaRDD<Example> raw, long dataRows, S student, java.util.function.Function<S, LoadedModel> asModel,
                                StudentEpoch<S> studentEpoch, LoadedModel teacher, KdLossKernel kd, SparkTrainer.Config cfg, String where,
                                PrintWriter progress, java.util.function.BiConsumer<Integer, S> afterEpoch) {
        int nf = teacher.meta().numFeatures(), k = teacher.meta().numClasses();
        S s = student;
        MultiLayerNetwork t = teacher.net();
        org.deeplearning4j.nn.graph.ComputationGraph tg = teacher.graph();
        for (int e = 1; e <= cfg.epochs(); e++) {
            SparkTrainer.Config one = cfg.epochs(1, cfg.seed() + e);
            Broadcast<Teacher> tb = jsc.broadcast(Teachers.of(tg != null
                    ? LoadedModel.ofGraph(tg, teacher.meta(), teacher.sha256(), teacher.source(), teacher.kind(), 0)
                    : new LoadedModel(t, teacher.meta(), teacher.sha256(), teacher.source(), teacher.kind(), 0)));
            Joined fromTeacher = join(raw, dataRows, logitsOf(raw, tb, cfg.batchSize(), where), "teacher logits", where);
            progress.printf("distill: online epoch %d/%d: student learns from the teacher%n", e, cfg.epochs());
            try {
                s = studentEpoch.train(fromTeacher.rows(), s, one);
            } finally {
                fromTeacher.rows().unpersist(false);
                tb.destroy();
            }
            Broadcast<Teacher> sb = jsc.broadcast(Teachers.of(asModel.apply(s)));
            Joined fromStudent = join(raw, dataRows, logitsOf(raw, sb, cfg.batchSize(), where), "student logits", where);
            progress.printf("distill: online epoch %d/%d: teacher learns from the student%n", e, cfg.epochs());
            try {
                if (tg != null) tg = GraphDistillJob.train(jsc, fromStudent.rows(), tg, teacher.meta().normalizer(), nf, k, kd, one, where, progress, (ep, n) -> { });
                else t = train(jsc, fromStudent.rows(), t, teacher.meta().normalizer(), nf, k, kd, one, where, progress, (ep, n) -> { });
            } finally {
                fromStudent.rows().unpersist(false);
                sb.destroy();
            }
            afterEpoch.accept(e, s);
            progress.flush();
        }
        return new Mutual<>(s, t);
    }

    /**
     * Feature distillation: which teacher layer guides which student layer, and how much.
     *
     * @param teacherVertex the teacher's vertex by name (a graph teacher), or null
     * @param teacherLayer  the teacher's layer by index (a layer-stack teacher), -1 with a vertex name
     */
    public record Hint(String teacherVertex, int teacherLayer, int studentLayer, String studentVertex, double weight) implements java.io.Serializable {
        public Hint {
            if (!(weight > 0) || Double.isInfinite(weight)) throw new BadInputException("distill.hint-weight must be > 0, got " + weight);
        }

        /**
         * {@code TEACHER:STUDENT}: a teacher layer index or graph vertex name, a student layer index (a layer-stack
         * student) or vertex name (a graph student).
         */
        public static Hint parse(String s, double weight) {
            String[] p = s.split(":");
            if (p.length != 2 || p[0].isBlank() || p[1].isBlank())
                throw new BadInputException("distill.hint must be TEACHER:STUDENT (a teacher layer index or graph vertex name, a student layer index"
                        + " or graph vertex name, e.g. 1:0 or pool:0), got '" + s + "'");
            String t = p[0].trim(), st = p[1].trim();
            boolean studentIndex = st.chars().allMatch(Character::isDigit);
            int student = studentIndex ? Integer.parseInt(st) : -1;
            return t.chars().allMatch(Character::isDigit) ? new Hint(null, Integer.parseInt(t), student, studentIndex ? null : st, weight)
                    : new Hint(t, -1, student, studentIndex ? null : st, weight);
        }

        /** The teacher side as printed: {@code layer 1} or {@code vertex 'pool'}. */
        String teacher() {
            return teacherVertex == null ? "layer " + teacherLayer : "vertex '" + teacherVertex + "'";
        }
    }

    /**
     * Trains the student with the KD loss and a FitNets hint on a ComputationGraph ({@link io.squeeze.model.HintGraph}):
     * each minibatch carries the teacher's hint-layer activations (a graph teacher's: the named vertex's, flattened),
     * computed on the executor by the broadcast teacher. {@code afterEpoch} gets the epoch (1-based) and the student
     * without the hint (validation, as without a hint).
     */
    public static MultiLayerNetwork trainWithHint(JavaSparkContext jsc, JavaRDD<Tuple2<Example, float[]>> rows, MultiLayerNetwork student,
                                                  Normalizer norm, LoadedModel teacher, Hint hint, int nf, int k, KdLossKernel kd, double lr,
                                                  SparkTrainer.Config cfg, String where, PrintWriter progress,
                                                  java.util.function.BiConsumer<Integer, MultiLayerNetwork> afterEpoch) {
        int tw = teacherWidth(teacher, hint, nf);
        if (hint.studentVertex() != null)
            throw new BadInputException("distill.hint: the student is a layer stack; give its layer index, got vertex '" + hint.studentVertex() + "'");
        if (hint.studentLayer() < 0 || hint.studentLayer() >= student.getnLayers() - 1)
            throw new BadInputException("distill.hint student layer must be a hidden layer in [0, " + (student.getnLayers() - 2) + "], got " + hint.studentLayer());
        if (!(student.getLayer(hint.studentLayer()).conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.DenseLayer))
            throw new BadInputException("distill.hint student layer " + hint.studentLayer() + " is a "
                    + student.getLayer(hint.studentLayer()).conf().getLayer().getClass().getSimpleName() + "; hints guide dense layers");
        int sw = io.squeeze.model.Logits.width(student, hint.studentLayer(), nf);
        progress.printf("distill: hint from teacher %s (%d wide) to student layer %d (%d wide%s), weight %s%n", hint.teacher(), tw, hint.studentLayer(), sw,
                tw == sw ? "" : ", through a learned projection", hint.weight());
        var cg = io.squeeze.model.HintGraph.build(student, hint.studentLayer(), sw, tw, hint.weight(), new KdLoss(kd, k), lr);
        Broadcast<io.squeeze.model.NetPayload> tb = jsc.broadcast(io.squeeze.model.NetPayload.of(teacher));
        try {
            var data = hintBatches(rows, norm, tb, teacher.meta().normalizer(), hint, nf, k, tw, cfg.batchSize(), where, jsc.defaultParallelism());
            return io.squeeze.model.HintGraph.student(SparkTrainer.fitGraph(jsc, data, cg, cfg, where, progress,
                    EpochWatcher.through(afterEpoch, g -> io.squeeze.model.HintGraph.student(g, student))), student);
        } finally {
            tb.destroy();
        }
    }

    /** The teacher of stored soft targets, for its hidden activations: a Squeeze-readable model unchanged since the soft targets were made. */
    static LoadedModel hintTeacher(io.squeeze.core.Storage st, io.squeeze.artifact.SoftTargetsStore.Manifest soft) {
        if (soft.teacherKind().equals("onnx") || !st.exists(st.path(soft.teacher())))
            throw new BadInputException("distill --hint needs the teacher's hidden layers: the soft targets' teacher " + soft.teacher()
                    + " is " + (soft.teacherKind().equals("onnx") ? "an ONNX model" : "not found"));
        LoadedModel tm = io.squeeze.artifact.Models.load(st, soft.teacher(), true);
        if (!tm.sha256().equals(soft.teacherSha256()))
            throw new BadInputException("distill --hint: teacher " + soft.teacher() + " changed since the soft targets were made (sha256 differs)");
        return tm;
    }

    /** Checks the teacher side of {@code hint} against {@code teacher}; returns the width of its flattened activations. */
    static int teacherWidth(LoadedModel teacher, Hint hint, int nf) {
        int tl = hint.teacherLayer();
        String tv = hint.teacherVertex();
        if (teacher.isGraph()) {
            var c = teacher.graph().getConfiguration();
            if (tv == null)
                throw new BadInputException("distill.hint: teacher " + teacher.source() + " is a graph; name its vertex (e.g. pool:0), got layer " + tl);
            if (!c.getVertices().containsKey(tv) || c.getNetworkOutputs().contains(tv))
                throw new BadInputException("distill.hint teacher vertex '" + tv + "' is not a hidden vertex of " + teacher.source() + " (inspect lists them)");
        } else if (tv != null) {
            throw new BadInputException("distill.hint: teacher " + teacher.source() + " is a layer stack; give its layer index, got vertex '" + tv + "'");
        } else if (tl < 0 || tl >= teacher.net().getnLayers() - 1)
            throw new BadInputException("distill.hint teacher layer must be a hidden layer in [0, " + (teacher.net().getnLayers() - 2) + "], got " + tl);
        return teacher.isGraph() ? io.squeeze.model.Logits.width(teacher.graph(), tv, nf) : io.squeeze.model.Logits.width(teacher.net(), tl, nf);
    }

    /**
     * Minibatches of rows joined to their soft targets, each with a second label: the teacher's hint activations
     * ({@code tw} wide, flattened), computed on the executor by the broadcast teacher on the rows in the teacher's
     * normalization; the features in the student's ({@code norm}).
     */
    static JavaRDD<org.nd4j.linalg.dataset.api.MultiDataSet> hintBatches(JavaRDD<Tuple2<Example, float[]>> rows, Normalizer norm,
                                                                           Broadcast<io.squeeze.model.NetPayload> tb, Normalizer tn, Hint hint, int nf, int k,
                                                                           int tw, int batch, String where, int parallelism) {
        int tl = hint.teacherLayer();
        String tv = hint.teacherVertex();
        return minibatches(RoundRobin.spread(rows, parallelism), Normalizer.NONE, nf, k, batch, where).map(d -> {
            var t = tb.value();
            int n = (int) d.getFeatures().size(0);
            float[] raw = d.getFeatures().dup('c').data().asFloat();
            float[] h = t.isGraph() ? io.squeeze.model.Logits.hidden(t.graph(), tv, tn.appliedRows(raw, n), n, nf)
                    : io.squeeze.model.Logits.hidden(t.network(), tl, tn.appliedRows(raw, n), n, nf);
            float[] xs = norm.appliedRows(raw, n);
            return new org.nd4j.linalg.dataset.MultiDataSet(new org.nd4j.linalg.api.ndarray.INDArray[]{Nd4j.create(xs, new long[]{n, nf}, 'c')},
                    new org.nd4j.linalg.api.ndarray.INDArray[]{d.getLabels(), Nd4j.create(h, new long[]{n, tw}, 'c')});
        });
    }
}
