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
 * {@code squeeze distill} into a graph student (a {@code resnet:N} or a graph zip) from stored soft targets: the
 * student's output layer trains under the {@link KdLoss} (Hinton et al. 2015) on the same joined minibatches as a
 * layer-stack student, with parameter averaging on Spark, then gets its cross-entropy loss back; the result is a
 * DL4J ComputationGraph zip, evaluated against the teacher.
 */
public final class GraphDistillJob {
    private GraphDistillJob() {}

    /** Whether the student is a graph: a graph architecture, or a model file that is a branching graph. */
    public static boolean graphStudent(DistillJob.Config c, Storage st) {
        if (DistillJob.isArch(c.student())) return Architectures.isGraph(Arch.parse(c.student()), st);
        return ModelIO.isBranchingGraph(st, st.path(c.student()));
    }

    /** Refuses what a graph student does not take, before any Spark work. */
    public static void check(DistillJob.Config c) {
        if (c.mode() != DistillJob.Mode.OFFLINE)
            throw new BadInputException("distill --student " + c.student() + " is a graph, which learns from stored soft targets (--soft-targets), not --online");
        if (c.hint() != null) throw new BadInputException("distill --hint takes layer-stack students; " + c.student() + " is a graph");
    }

    /** The distilled graph, its metadata and the metrics against the teacher. */
    public record Result(ComputationGraph graph, ModelMeta meta, Map<String, Object> metrics) {}

    public static Result run(SparkSession spark, DistillJob.Config c, PrintWriter err) {
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        SoftTargetsStore.Manifest soft = SoftTargetsStore.read(st, c.softTargets());
        SparkData.Loaded d = SparkData.read(spark, c.data(), -1, null);
        DataSummary s = TrainJob.summarize(spark, d.rdd(), c.data().toString());
        if (s.rows() == 0) throw new BadInputException("data " + c.data() + " is empty (no rows)");
        if (soft.dataRows() != s.rows())
            throw new BadInputException("soft targets " + c.softTargets() + " were made from " + soft.dataRows() + " rows of " + soft.data()
                    + " but data " + c.data() + " has " + s.rows() + " rows");
        int k = soft.classes();
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
            if (meta.numClasses() != k) throw new BadInputException("soft targets " + c.softTargets() + " have " + k + " classes but the student has " + meta.numClasses());
        }
        if (meta.numFeatures() != d.numFeatures())
            throw new BadInputException("data " + c.data() + " has " + d.numFeatures() + " features but the student takes " + meta.numFeatures());
        String where = c.data().toString();
        var jsc = SparkSessions.jsc(spark);
        DistillJob.Joined j = DistillJob.join(d.rdd(), s.rows(), DistillJob.read(spark, st.path(c.softTargets()).toString(), soft),
                "soft targets " + c.softTargets(), where);
        err.printf(Locale.ROOT, "distill: %d rows joined to soft targets of %s (T %.2f, alpha %.2f), a graph student%n", j.count(), soft.teacher(),
                c.temperature(), c.alpha());
        ComputationGraph trained;
        try {
            var data = SparkTrainer.singleOutput(DistillJob.minibatches(RoundRobin.spread(j.rows(), jsc.defaultParallelism()), meta.normalizer(),
                    meta.numFeatures(), k, c.training().batchSize(), where));
            trained = SparkTrainer.fitGraph(jsc, data, Graphs.withLoss(student, new KdLoss(new KdLossKernel(c.alpha(), c.temperature()), k)), c.training(),
                    where, err, Validation.afterGraph(spark, c.evalData(), meta, err));
        } finally {
            j.rows().unpersist(false);
        }
        trained = Graphs.withLoss(trained, new LossMCXENT());
        Loaded teacher = soft.teacherKind().equals("onnx") || !st.exists(st.path(soft.teacher())) ? null : Models.loadRunnable(st, soft.teacher(), true);
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, c.evalData(), io.squeeze.data.Split.TEST,
                Loaded.plain(LoadedModel.ofGraph(trained, meta, "", "distilled", SourceKind.DL4J_ZIP, 0)), teacher);
        return new Result(trained, meta, metrics);
    }
}
