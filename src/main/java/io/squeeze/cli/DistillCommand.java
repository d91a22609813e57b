package io.squeeze.cli;

import io.squeeze.artifact.Loaded;
import io.squeeze.core.BadInputException;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Models;
import io.squeeze.artifact.SoftTargetsStore;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.DataSummary;
import io.squeeze.data.Normalization;
import io.squeeze.data.Normalizer;
import io.squeeze.data.Split;
import io.squeeze.distill.KdLossKernel;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.SourceKind;
import io.squeeze.model.Surgery;
import io.squeeze.spark.EvaluateJob;
import io.squeeze.spark.DistillJob;
import io.squeeze.spark.SparkData;
import io.squeeze.spark.SparkSessions;
import io.squeeze.spark.SparkTrainer;
import io.squeeze.spark.TrainJob;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

@Command(name = "distill", mixinStandardHelpOptions = true,
        description = {"Knowledge distillation on Spark (Hinton et al. 2015): L = α·CE(student, labels) + (1−α)·T²·KL(teacher/T ‖ student/T).",
                "Offline: --soft-targets P (from soft-targets) joined to --data by row id. Online: --teacher T --online, teacher and",
                "student learning from each other's softened outputs and the labels (deep mutual learning, exchanged per epoch).",
                "The student is an architecture (mlp:800,800, lenet5, a DL4J JSON) or an existing model (e.g. pruned or factorized).",
                "Example: squeeze distill --soft-targets out/mnist/soft --data idx:data/mnist --student mlp:800,800 --temperature 4 --alpha 0.1 --epochs 10 --out out/mnist/student"})
public final class DistillCommand extends BaseCommand {
    static final class Source {
        @Option(names = "--soft-targets", paramLabel = "P", description = "stored soft targets (offline distillation)")
        String softTargets;
        @Option(names = "--teacher", paramLabel = "T", description = "with --online: the teacher model, trained alongside")
        String teacher;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--online", description = "train teacher and student together (requires --teacher)")
    boolean online;

    @picocli.CommandLine.Mixin
    DataOptions data;

    @Option(names = "--student", required = true, paramLabel = "A|M", description = "an architecture (mlp:H,..., lenet5, *.json) or a model path")
    String student;

    @Option(names = "--temperature", defaultValue = "4", paramLabel = "T")
    double temperature;

    @Option(names = "--alpha", defaultValue = "0.1", paramLabel = "A", description = "weight of the hard-label term (default: ${DEFAULT-VALUE})")
    double alpha;

    @Option(names = "--epochs", defaultValue = "10")
    int epochs;

    @Option(names = "--batch", defaultValue = "64")
    int batch;

    @Option(names = "--lr", defaultValue = "0.001", description = "a new student's Adam learning rate (default: ${DEFAULT-VALUE})")
    double lr;

    @Option(names = "--seed", defaultValue = "42")
    long seed;

    @Option(names = "--dropout", defaultValue = "0")
    double dropout;

    @Option(names = "--normalize", defaultValue = "none", paramLabel = "none|minmax|standard", description = "a new student's input normalization")
    Normalization normalize;

    @Option(names = "--eval-data", paramLabel = "D", description = "evaluate the student against the teacher (when it is a DL4J/Keras model)")
    String evalData;

    @Option(names = "--hint", paramLabel = "TL:SL", description = {"feature distillation (FitNets): an L2 loss between student layer SL",
            "(through a learned projection when widths differ) and the teacher's layer TL (offline; the soft targets' teacher must be a DL4J/Keras model)"})
    String hint;

    @Option(names = "--hint-weight", defaultValue = "0.1", paramLabel = "W", description = "weight of the hint loss (default: ${DEFAULT-VALUE})")
    double hintWeight;

    @Option(names = "--save-teacher", paramLabel = "ARTIFACT", description = "online: also write the updated teacher")
    String saveTeacher;

    @Mixin
    ArtifactOutput output;

    static boolean isArch(String s) {
        return s.startsWith("mlp:") || s.equals("lenet5") || s.endsWith(".json");
    }

    @Override
    public Integer call() {
        KdLossKernel kd = new KdLossKernel(alpha, temperature);
        SparkTrainer.Config cfg = new SparkTrainer.Config(epochs, batch, 5);
        if (online != (source.teacher != null)) throw new BadInputException(online ? "distill --online needs --teacher T" : "distill --teacher needs --online (or use --soft-targets)");
        if (saveTeacher != null && !online) throw new BadInputException("distill --save-teacher applies to --online only");
        DistillJob.Hint h = hint == null ? null : DistillJob.Hint.parse(hint, hintWeight);
        if (h != null && online) throw new BadInputException("distill --hint applies to offline distillation (--soft-targets)");
        SparkSession spark = SparkSessions.start("squeeze distill");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        ArtifactWriter.checkTarget(st, output.out, output.overwrite);
        if (saveTeacher != null) ArtifactWriter.checkTarget(st, saveTeacher, output.overwrite);
        SoftTargetsStore.Manifest soft = source.softTargets == null ? null : SoftTargetsStore.read(st, source.softTargets);
        Loaded teacherRun = online ? Models.loadRunnable(st, source.teacher) : null;
        LoadedModel teacher = teacherRun == null ? null : teacherRun.model();
        DataSpec spec = data.spec(Split.TRAIN);
        SparkData.Loaded d = SparkData.read(spark, spec, -1, null);
        DataSummary s = TrainJob.summarize(spark, d.rdd(), spec.toString());
        if (s.rows() == 0) throw new BadInputException("data " + spec + " is empty (no rows)");
        int classes = soft != null ? soft.classes() : teacher.meta().numClasses();
        // the student: a new network for the data, or an existing model (its masks kept while it trains)
        MultiLayerNetwork net;
        ModelMeta meta;
        LoadedModel existing = null;
        if (isArch(student)) {
            Normalizer n = Normalizer.fit(normalize, s.features());
            meta = new ModelMeta(d.numFeatures(), classes, d.imageShape(), n, spec.toString());
            net = new MultiLayerNetwork(Architectures.build(Arch.parse(student), d.numFeatures(), classes, d.imageShape(),
                    new Architectures.Hyper(seed, lr, 0, 0, dropout), st));
            net.init();
        } else {
            existing = Models.load(st, student);
            meta = existing.meta();
            net = existing.masks().isEmpty() ? existing.net() : Surgery.withMaskConstraints(existing.net(), existing.masks());
        }
        if (meta.numFeatures() != d.numFeatures())
            throw new BadInputException("data " + spec + " has " + d.numFeatures() + " features but the student takes " + meta.numFeatures());
        if (meta.numClasses() != classes)
            throw new BadInputException((soft != null ? "soft targets " + source.softTargets : "teacher " + source.teacher) + " have " + classes
                    + " classes but the student has " + meta.numClasses());
        if (s.numClasses() > classes)
            throw new BadInputException("data " + spec + " has labels up to " + (s.numClasses() - 1) + " but the teacher has " + classes + " classes");
        var err = err();
        MultiLayerNetwork trained, teacherAfter = null;
        if (soft != null) {
            if (soft.dataRows() != s.rows())
                throw new BadInputException("soft targets " + source.softTargets + " were made from " + soft.dataRows() + " rows of " + soft.data()
                        + " but data " + spec + " has " + s.rows() + " rows");
            DistillJob.Joined j = DistillJob.join(d.rdd(), s.rows(),
                    DistillJob.read(spark, st.path(source.softTargets).toString(), soft), "soft targets " + source.softTargets, spec.toString());
            err.printf(Locale.ROOT, "distill: %d rows joined to soft targets of %s (T %.2f, alpha %.2f)%n", j.count(), soft.teacher(), temperature, alpha);
            if (h == null) {
                trained = DistillJob.train(SparkSessions.jsc(spark), j.rows(), net, meta.normalizer(), meta.numFeatures(), classes, kd, cfg, spec.toString(), err);
            } else {
                if (soft.teacherKind().equals("onnx") || !st.exists(st.path(soft.teacher())))
                    throw new BadInputException("distill --hint needs the teacher's hidden layers: the soft targets' teacher " + soft.teacher()
                            + " is " + (soft.teacherKind().equals("onnx") ? "an ONNX model" : "not found"));
                LoadedModel tm = Models.load(st, soft.teacher());
                if (!tm.sha256().equals(soft.teacherSha256()))
                    throw new BadInputException("distill --hint: teacher " + soft.teacher() + " changed since the soft targets were made (sha256 differs)");
                trained = DistillJob.trainWithHint(SparkSessions.jsc(spark), j.rows(), net, meta.normalizer(), tm, h, meta.numFeatures(), classes, kd, lr,
                        cfg, spec.toString(), err);
            }
            j.rows().unpersist(false);
        } else {
            if (teacher.meta().numFeatures() != d.numFeatures())
                throw new BadInputException("teacher " + source.teacher + " takes " + teacher.meta().numFeatures() + " features but data " + spec + " has " + d.numFeatures());
            DistillJob.Mutual m = DistillJob.online(SparkSessions.jsc(spark), d.rdd(), s.rows(), net, meta, teacher, kd, cfg, spec.toString(), err);
            trained = m.student();
            teacherAfter = m.teacher();
        }
        var masks = existing == null ? Map.<String, io.squeeze.core.Mask>of() : existing.masks();
        if (!masks.isEmpty()) {
            trained = Surgery.withoutMaskConstraints(trained);
            Surgery.applyMasks(trained, masks);
        }
        Loaded baseline = online ? teacherRun : soft.teacherKind().equals("onnx") || !st.exists(st.path(soft.teacher())) ? null : Models.loadRunnable(st, soft.teacher());
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, evalData, Split.TEST,
                Loaded.plain(new LoadedModel(trained, meta, "", output.out, SourceKind.ARTIFACT, 0)), baseline);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("command", "distill");
        config.put("mode", online ? "online" : "offline");
        config.put("teacher", online ? teacher.source() : soft.teacher());
        config.put("teacher_sha256", online ? teacher.sha256() : soft.teacherSha256());
        config.put("soft_targets", source.softTargets);
        config.put("data", spec.toString());
        config.put("student", student);
        config.put("temperature", temperature);
        config.put("alpha", alpha);
        config.put("epochs", epochs);
        config.put("batch", batch);
        if (h != null) {
            config.put("hint", hint);
            config.put("hint_weight", hintWeight);
        }
        ArtifactWriter.write(st, output.out, output.overwrite, new ArtifactWriter.Content(trained, meta,
                new ArtifactWriter.Provenance(existing == null ? student : existing.source(), existing == null ? "" : existing.sha256(), Main.args(), config),
                Map.of(), metrics, masks));
        if (teacherAfter != null && saveTeacher != null)
            ArtifactWriter.write(st, saveTeacher, output.overwrite, new ArtifactWriter.Content(teacherAfter, teacher.meta(),
                    new ArtifactWriter.Provenance(teacher.source(), teacher.sha256(), Main.args(), config), Map.of(), Map.of(), Map.of()));
        var o = out();
        if (!metrics.isEmpty()) {
            o.printf(Locale.ROOT, "student accuracy %.4f", (Double) metrics.get("accuracy"));
            if (metrics.get("baseline") instanceof Map<?, ?> b)
                o.printf(Locale.ROOT, ", teacher %.4f, agreement %.4f, params %d vs %d", (Double) b.get("accuracy"), (Double) b.get("agreement"),
                        trained.numParams(), (Long) b.get("params"));
            o.println();
        }
        o.println("wrote " + st.path(output.out));
        return Main.OK;
    }
}
