package io.squeeze.spark;

import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.artifact.SoftTargetsStore;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSummary;
import io.squeeze.data.Normalizer;
import io.squeeze.distill.KdLoss;
import io.squeeze.distill.KdLossKernel;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.Graphs;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelIO;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.SourceKind;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.lossfunctions.impl.LossMCXENT;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;

/**
 * {@code squeeze distill} into a graph student (a {@code resnet:N} or a graph zip): from stored soft targets, or
 * online beside a teacher that trains too (deep mutual learning, {@link DistillJob#mutual}). The student's output
 * layer trains under the {@link KdLoss} (Hinton et al. 2015) on the same joined minibatches as a layer-stack
 * student, with parameter averaging on Spark, then gets its cross-entropy loss back; the result is a DL4J
 * ComputationGraph zip, evaluated against the teacher.
 */
public final class GraphDistillJob {
    private GraphDistillJob() {}

    /** Whether the student is a graph: a graph architecture, or a model file that is a branching graph. */
    public static boolean graphStudent(DistillJob.Config c, Storage st) {
        if (DistillJob.isArch(c.student())) return Architectures.isGraph(Arch.parse(c.student()), st);
        return io.squeeze.artifact.Models.isGraph(st, st.path(c.student()));
    }

    /** Refuses what a graph student does not take, before any Spark work. */
    public static void check(DistillJob.Config c) {
        DistillJob.Hint h = c.hint() == null ? null : DistillJob.Hint.parse(c.hint(), c.hintWeight());
        if (h != null && h.studentVertex() == null)
            throw new BadInputException("distill --hint: student " + c.student() + " is a graph; name its vertex (e.g. pool:pool), got layer " + h.studentLayer());
    }

    /**
     * The distilled graph, its metadata, the metrics against the teacher, and after online distillation with a
     * layer-stack teacher the updated teacher's artifact content (else null).
     */
    public record Result(ComputationGraph graph, ModelMeta meta, Map<String, Object> metrics, io.squeeze.artifact.ArtifactWriter.Content teacher) {}

    public static Result run(SparkSession spark, DistillJob.Config c, java.util.List<String> argv, PrintWriter err) {
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        boolean online = c.mode() == DistillJob.Mode.ONLINE;
        SoftTargetsStore.Manifest soft = online ? null : SoftTargetsStore.read(st, c.softTargets());
        Loaded teacherRun = online ? DistillJob.onlineTeacher(st, c) : null;
        SparkData.Loaded d = SparkData.read(spark, c.data(), -1, null);
        DataSummary s = TrainJob.summarize(spark, d.rdd(), c.data().toString());
        if (s.rows() == 0) throw new BadInputException("data " + c.data() + " is empty (no rows)");
        if (soft != null && soft.dataRows() != s.rows())
            throw new BadInputException("soft targets " + c.softTargets() + " were made from " + soft.dataRows() + " rows of " + soft.data()
                    + " but data " + c.data() + " has " + s.rows() + " rows");
        if (teacherRun != null && teacherRun.model().meta().numFeatures() != d.numFeatures())
            throw new BadInputException("teacher " + c.teacher() + " takes " + teacherRun.model().meta().numFeatures() + " features but data " + c.data()
                    + " has " + d.numFeatures());
        int k = soft != null ? soft.classes() : teacherRun.model().meta().numClasses();
        if (s.numClasses() > k)
            throw new BadInputException("data " + c.data() + " has labels up to " + (s.numClasses() - 1) + " but the teacher has " + k + " classes");
        ComputationGraph student;
        ModelMeta meta;
        if (DistillJob.isArch(c.student())) {
            var conf = Architectures.graph(Arch.parse(c.student()), d.numFeatures(), k, d.imageShape(),
                    new Architectures.Hyper(c.seed(), c.lr(), 0, 0, c.dropout()), st);
            meta = new ModelMeta(d.numFeatures(), k, Graphs.deriveMeta(conf, "--student " + c.student()).inputShape(),
                    Normalizer.fit(c.normalize(), s.features()), c.data().toString());
            student = new ComputationGraph(conf);
            student.init();
        } else {
            LoadedModel m = Models.load(st, c.student(), true);
            student = m.graph();
            meta = m.meta();
            if (meta.numClasses() != k)
                throw new BadInputException((soft != null ? "soft targets " + c.softTargets() : "teacher " + c.teacher()) + " have " + k
                        + " classes but the student has " + meta.numClasses());
        }
        if (meta.numFeatures() != d.numFeatures())
            throw new BadInputException("data " + c.data() + " has " + d.numFeatures() + " features but the student takes " + meta.numFeatures());
        if (online) return online(spark, c, d, s.rows(), student, meta, teacherRun, argv, err);
        String where = c.data().toString();
        var jsc = SparkSessions.jsc(spark);
        DistillJob.Joined j = DistillJob.join(d.rdd(), s.rows(), DistillJob.read(spark, st.path(c.softTargets()).toString(), soft),
                "soft targets " + c.softTargets(), where);
        err.printf(Locale.ROOT, "distill: %d rows joined to soft targets of %s (T %.2f, alpha %.2f), a graph student%n", j.count(), soft.teacher(),
                c.temperature(), c.alpha());
        ComputationGraph trained;
        try {
            var validate = Validation.afterGraph(spark, c.evalData(), meta, err);
            var kd = new KdLoss(new KdLossKernel(c.alpha(), c.temperature()), k);
            if (c.hint() == null) {
                trained = train(jsc, j.rows(), student, meta.normalizer(), meta.numFeatures(), k, kd.kernel(), c.training(), where, err, validate);
            } else {
                trained = withHint(jsc, j.rows(), student, meta, DistillJob.Hint.parse(c.hint(), c.hintWeight()), DistillJob.hintTeacher(st, soft), k, kd, c, where, err,
                        validate);
            }
        } finally {
            j.rows().unpersist(false);
        }
        if (c.hint() != null) trained = Graphs.withLoss(trained, new LossMCXENT());
        Loaded teacher = soft.teacherKind().equals("onnx") || !st.exists(st.path(soft.teacher())) ? null : Models.loadRunnable(st, soft.teacher(), true);
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, c.evalData(), io.squeeze.data.Split.TEST,
                Loaded.plain(LoadedModel.ofGraph(trained, meta, "", "distilled", SourceKind.DL4J_ZIP, 0)), teacher);
        return new Result(trained, meta, metrics, null);
    }

    /** Online: the graph student and the teacher learn from each other's logits, an epoch each in turn. */
    private static Result online(SparkSession spark, DistillJob.Config c, SparkData.Loaded d, long rows, ComputationGraph student, ModelMeta meta,
                                 Loaded teacherRun, java.util.List<String> argv, PrintWriter err) {
        var jsc = SparkSessions.jsc(spark);
        String where = c.data().toString();
        int nf = meta.numFeatures(), k = meta.numClasses();
        LoadedModel teacher = teacherRun.model();
        var kd = new KdLossKernel(c.alpha(), c.temperature());
        err.printf(Locale.ROOT, "distill: online with teacher %s (T %.2f, alpha %.2f), a graph student%n", c.teacher(), c.temperature(), c.alpha());
        DistillJob.Mutual<ComputationGraph> m = DistillJob.mutual(jsc, d.rdd(), rows, student,
                g -> LoadedModel.ofGraph(g, meta, "", "student", SourceKind.DL4J_ZIP, 0),
                (r, g, one) -> train(jsc, r, g, meta.normalizer(), nf, k, kd, one, where, err, (e, x) -> { }),
                teacher, kd, c.training(), where, err, Validation.afterGraph(spark, c.evalData(), meta, err));
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, c.evalData(), io.squeeze.data.Split.TEST,
                Loaded.plain(LoadedModel.ofGraph(m.student(), meta, "", "distilled", SourceKind.DL4J_ZIP, 0)), teacherRun);
        var teacherContent = m.teacher() == null ? null : new io.squeeze.artifact.ArtifactWriter.Content(m.teacher(), teacher.meta(),
                new io.squeeze.artifact.ArtifactWriter.Provenance(teacher.source(), teacher.sha256(), argv, Jobs.toMap(c)), Map.of(), Map.of(), Map.of());
        return new Result(m.student(), meta, metrics, teacherContent);
    }

    /**
     * Trains graph {@code g} on rows joined to soft targets under the KD loss (its features in {@code norm}); returns
     * it with its cross-entropy output layer back. {@code afterEpoch} sees the graph under the KD loss.
     */
    static ComputationGraph train(org.apache.spark.api.java.JavaSparkContext jsc, org.apache.spark.api.java.JavaRDD<scala.Tuple2<io.squeeze.data.Example, float[]>> rows,
                                  ComputationGraph g, Normalizer norm, int nf, int k, KdLossKernel kd, SparkTrainer.Config cfg, String where,
                                  PrintWriter progress, java.util.function.BiConsumer<Integer, ComputationGraph> afterEpoch) {
        var data = SparkTrainer.singleOutput(DistillJob.minibatches(RoundRobin.spread(rows, jsc.defaultParallelism()), norm, nf, k, cfg.batchSize(), where));
        return Graphs.withLoss(SparkTrainer.fitGraph(jsc, data, Graphs.withLoss(g, new KdLoss(kd, k)), cfg, where, progress, afterEpoch), new LossMCXENT());
    }

    /**
     * FitNets (Romero et al. 2015) into a graph student: the student with a second output on the hint vertex
     * ({@link io.squeeze.model.HintGraph#buildGraph}) trained on minibatches carrying the teacher's activations,
     * computed in the executors by the broadcast teacher; validation after each epoch on the student without the hint.
     */
    static ComputationGraph withHint(org.apache.spark.api.java.JavaSparkContext jsc, org.apache.spark.api.java.JavaRDD<scala.Tuple2<io.squeeze.data.Example, float[]>> rows,
                                     ComputationGraph student, ModelMeta meta, DistillJob.Hint hint, LoadedModel teacher, int k, KdLoss kd,
                                     DistillJob.Config c, String where, PrintWriter err,
                                     java.util.function.BiConsumer<Integer, ComputationGraph> validate) {
        int nf = meta.numFeatures();
        int tw = DistillJob.teacherWidth(teacher, hint, nf);
        var cg = io.squeeze.model.HintGraph.buildGraph(student, hint.studentVertex(), nf, tw, hint.weight(), kd, c.lr());
        int sw = io.squeeze.model.HintGraph.width(student, hint.studentVertex(), nf);
        err.printf("distill: hint from teacher %s (%d wide) to student vertex '%s' (%d wide%s), weight %s%n", hint.teacher(), tw, hint.studentVertex(), sw,
                tw == sw ? "" : ", through a learned projection", hint.weight());
        var tb = jsc.broadcast(io.squeeze.model.NetPayload.of(teacher));
        try {
            var data = DistillJob.hintBatches(rows, meta.normalizer(), tb, teacher.meta().normalizer(), hint, nf, k, tw, c.training().batchSize(), where,
                    jsc.defaultParallelism());
            ComputationGraph out = SparkTrainer.fitGraph(jsc, data, cg, c.training(), where, err,
                    EpochWatcher.through(validate, g -> io.squeeze.model.HintGraph.student(g, student)));
            return io.squeeze.model.HintGraph.student(out, student);
        } finally {
            tb.destroy();
        }
    }
}
