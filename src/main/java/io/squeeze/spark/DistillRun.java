package io.squeeze.spark;

import io.squeeze.core.TensorKey;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.artifact.SoftTargetsStore;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Mask;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSummary;
import io.squeeze.data.Normalizer;
import io.squeeze.distill.KdLossKernel;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.SourceKind;
import io.squeeze.model.Surgery;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Runs a {@link DistillJob.Config}: checks the data against the soft targets or the teacher, builds or loads the
 * student (an existing model keeps its masks while it trains), distills offline (with an optional FitNets hint) or
 * online, and evaluates the student against the teacher.
 */
final class DistillRun {
    private DistillRun() {}

    static DistillJob.Outcome execute(SparkSession spark, DistillJob.Config c, String out, List<String> argv, PrintWriter err) {
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        boolean online = c.mode() == DistillJob.Mode.ONLINE;
        KdLossKernel kd = new KdLossKernel(c.alpha(), c.temperature());
        DistillJob.Hint h = c.hint() == null ? null : DistillJob.Hint.parse(c.hint(), c.hintWeight());
        SoftTargetsStore.Manifest soft = online ? null : SoftTargetsStore.read(st, c.softTargets());
        Loaded teacherRun = online ? DistillJob.onlineTeacher(st, c) : null;
        LoadedModel teacher = teacherRun == null ? null : teacherRun.model();
        SparkData.Loaded d = SparkData.read(spark, c.data(), -1, null);
        DataSummary s = TrainJob.summarize(spark, d.rdd(), c.data().toString());
        if (s.rows() == 0) throw new BadInputException("data " + c.data() + " is empty (no rows)");
        int classes = soft != null ? soft.classes() : teacher.meta().numClasses();
        // the student: a new network for the data, or an existing model (its masks kept while it trains)
        MultiLayerNetwork net;
        ModelMeta meta;
        LoadedModel existing = null;
        if (DistillJob.isArch(c.student())) {
            Normalizer n = Normalizer.fit(c.normalize(), s.features());
            meta = new ModelMeta(d.numFeatures(), classes, d.imageShape(), n, c.data().toString());
            net = new MultiLayerNetwork(Architectures.build(Arch.parse(c.student()), d.numFeatures(), classes, d.imageShape(),
                    new Architectures.Hyper(c.seed(), c.lr(), 0, 0, c.dropout()), st));
            net.init();
        } else {
            existing = Models.requireFloat(Models.loadRunnable(st, c.student()), "distill", "student " + c.student());
            meta = existing.meta();
            net = existing.masks().isEmpty() ? existing.net() : Surgery.withMaskConstraints(existing.net(), existing.masks());
        }
        if (meta.numFeatures() != d.numFeatures())
            throw new BadInputException("data " + c.data() + " has " + d.numFeatures() + " features but the student takes " + meta.numFeatures());
        if (meta.numClasses() != classes)
            throw new BadInputException((soft != null ? "soft targets " + c.softTargets() : "teacher " + c.teacher()) + " have " + classes
                    + " classes but the student has " + meta.numClasses());
        if (s.numClasses() > classes)
            throw new BadInputException("data " + c.data() + " has labels up to " + (s.numClasses() - 1) + " but the teacher has " + classes + " classes");
        MultiLayerNetwork trained, teacherAfter = null;
        // each epoch's student, validated as the classifier it will be (cross-entropy, not the KD loss; with a hint, the
        // student without its hint output)
        var validate = Validation.after(spark, c.evalData(), meta, err, n -> Surgery.withLoss(n, new org.nd4j.linalg.lossfunctions.impl.LossMCXENT()));
        String where = c.data().toString();
        if (soft != null) {
            if (soft.dataRows() != s.rows())
                throw new BadInputException("soft targets " + c.softTargets() + " were made from " + soft.dataRows() + " rows of " + soft.data()
                        + " but data " + c.data() + " has " + s.rows() + " rows");
            DistillJob.Joined j = DistillJob.join(d.rdd(), s.rows(), DistillJob.read(spark, st.path(c.softTargets()).toString(), soft),
                    "soft targets " + c.softTargets(), where);
            err.printf(Locale.ROOT, "distill: %d rows joined to soft targets of %s (T %.2f, alpha %.2f)%n", j.count(), soft.teacher(), c.temperature(), c.alpha());
            try {
                if (h == null) {
                    trained = DistillJob.train(SparkSessions.jsc(spark), j.rows(), net, meta.normalizer(), meta.numFeatures(), classes, kd, c.training(), where, err,
                            validate);
                } else {
                    LoadedModel tm = DistillJob.hintTeacher(st, soft);
                    trained = DistillJob.trainWithHint(SparkSessions.jsc(spark), j.rows(), net, meta.normalizer(), tm, h, meta.numFeatures(), classes, kd,
                            c.lr(), c.training(), where, err, validate);
                }
            } finally {
                j.rows().unpersist(false);
            }
        } else {
            if (teacher.meta().numFeatures() != d.numFeatures())
                throw new BadInputException("teacher " + c.teacher() + " takes " + teacher.meta().numFeatures() + " features but data " + c.data() + " has " + d.numFeatures());
            DistillJob.Mutual<MultiLayerNetwork> m = DistillJob.online(SparkSessions.jsc(spark), d.rdd(), s.rows(), net, meta, teacher, kd, c.training(), where, err,
                    validate);
            trained = m.student();
            teacherAfter = m.teacher();
        }
        Map<TensorKey, Mask> masks = existing == null ? Map.of() : existing.masks();
        if (!masks.isEmpty()) {
            trained = Surgery.withoutMaskConstraints(trained);
            Surgery.applyMasks(trained, masks);
        }
        Loaded baseline = online ? teacherRun : soft.teacherKind().equals("onnx") || !st.exists(st.path(soft.teacher())) ? null
                : Models.loadRunnable(st, soft.teacher(), true);
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, c.evalData(), io.squeeze.data.Split.TEST,
                Loaded.plain(new LoadedModel(trained, meta, "", out, SourceKind.ARTIFACT, 0)), baseline);
        var provenance = new ArtifactWriter.Provenance(existing == null ? c.student() : existing.source(), existing == null ? "" : existing.sha256(),
                argv, Jobs.toMap(c));
        ArtifactWriter.Content student = new ArtifactWriter.Content(trained, meta, provenance, Map.of(), metrics, masks);
        ArtifactWriter.Content teacherContent = teacherAfter == null ? null : new ArtifactWriter.Content(teacherAfter, teacher.meta(),
                new ArtifactWriter.Provenance(teacher.source(), teacher.sha256(), argv, Jobs.toMap(c)), Map.of(), Map.of(), Map.of());
        return new DistillJob.Outcome(student, teacherContent);
    }
}
