package io.squeeze.cli;

import io.squeeze.core.BadInputException;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.Storage;
import io.squeeze.data.Normalization;
import io.squeeze.data.Split;
import io.squeeze.spark.DistillJob;
import io.squeeze.spark.SparkSessions;
import io.squeeze.spark.SparkTrainer;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.Locale;
import java.util.Map;

@Command(name = "distill", mixinStandardHelpOptions = true,
        description = {"Knowledge distillation on Spark (Hinton et al. 2015): L = α·CE(student, labels) + (1−α)·T²·KL(teacher/T ‖ student/T).",
                "Offline: --soft-targets P (from soft-targets) joined to --data by row id. Online: --teacher T --online, teacher and",
                "student learning from each other's softened outputs and the labels (deep mutual learning, exchanged per epoch).",
                "The student is an architecture (mlp:800,800, lenet5, a DL4J JSON) or an existing model (e.g. pruned or factorized).",
                "Example: squeeze distill --soft-targets out/mnist/soft --data idx:data/mnist --student mlp:800,800 --temperature 4 --alpha 0.1 --epochs 10 --out out/mnist/student"})
public final class DistillCommand extends BaseCommand implements StageCommand {
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

    @Option(names = "--local", description = "train in this process instead of on Spark executors (the rows still stream through Spark)")
    boolean local;

    @Option(names = "--eval-data", paramLabel = "D", description = "evaluate the student against the teacher (when it is a DL4J/Keras model)")
    String evalData;

    @Option(names = "--hint", paramLabel = "TL:SL", description = {"feature distillation (FitNets): an L2 loss between student layer SL",
            "(through a learned projection when widths differ) and the teacher's layer TL — an index, or a graph teacher's vertex",
            "name, e.g. pool:0; SL is a vertex name for a graph student, e.g. pool:pool (offline; the soft targets' teacher must be",
            "a DL4J/Keras model)"})
    String hint;

    @Option(names = "--hint-weight", defaultValue = "0.1", paramLabel = "W", description = "weight of the hint loss (default: ${DEFAULT-VALUE})")
    double hintWeight;

    @Option(names = "--save-teacher", paramLabel = "ARTIFACT", description = "online: also write the updated teacher")
    String saveTeacher;

    @Mixin
    SyncOptions sync;

    @Mixin
    ArtifactOutput output;

    /** The validated job: every option checked before any Spark work. */
    DistillJob.Config config() {
        if (saveTeacher != null && !online) throw new BadInputException("distill --save-teacher applies to --online only");
        if (online != (source.teacher != null))
            throw new BadInputException(online ? "distill --online needs --teacher T" : "distill --teacher needs --online (or use --soft-targets)");
        Storage st = Storage.withSparkDefaults();
        String s = DistillJob.isArch(student) ? student : st.path(student).toString();
        if (DistillJob.isArch(student)) io.squeeze.model.Architectures.check(io.squeeze.model.Arch.parse(student), st);
        return new DistillJob.Config(online ? DistillJob.Mode.ONLINE : DistillJob.Mode.OFFLINE,
                source.softTargets == null ? null : st.path(source.softTargets).toString(),
                source.teacher == null ? null : st.path(source.teacher).toString(), data.spec(Split.TRAIN), s, temperature, alpha,
                new SparkTrainer.Config(epochs, batch, sync.syncEvery, seed, local), lr, seed, dropout, normalize, hint, hintWeight, evalData);
    }

    @Override
    public Integer call() {
        DistillJob.Config c = config();
        if (io.squeeze.spark.GraphDistillJob.graphStudent(c, Storage.withSparkDefaults())) return distillGraph(c);
        // the output is checked before any Spark work
        ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        checkSaveTeacher(c);
        SparkSession spark = SparkSessions.start("squeeze distill");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        DistillJob.Outcome r = DistillJob.execute(spark, c, output.out, Main.args(), err());
        c.publish(st, output.out, output.overwrite, r.student(), output.dl4jZip);
        if (r.teacher() != null && saveTeacher != null) ArtifactWriter.write(st, saveTeacher, output.overwrite, r.teacher(), output.dl4jZip);
        Map<String, Object> metrics = r.student().metrics();
        var o = out();
        if (!metrics.isEmpty()) {
            o.printf(Locale.ROOT, "student accuracy %.4f", (Double) metrics.get("accuracy"));
            if (metrics.get("baseline") instanceof Map<?, ?> b)
                o.printf(Locale.ROOT, ", teacher %.4f, agreement %.4f, params %d vs %d", (Double) b.get("accuracy"), (Double) b.get("agreement"),
                        r.student().net().numParams(), (Long) b.get("params"));
            o.println();
        }
        o.println("wrote " + st.path(output.out));
        return Main.OK;
    }

    /** {@code --save-teacher}'s target, checked before any Spark work: writable, and the teacher a layer stack. */
    private void checkSaveTeacher(DistillJob.Config c) {
        if (saveTeacher == null) return;
        ArtifactWriter.checkTarget(Storage.withSparkDefaults(), saveTeacher, output.overwrite, c.inputs());
        if (io.squeeze.artifact.Models.isGraph(Storage.withSparkDefaults(), new org.apache.hadoop.fs.Path(c.teacher())))
            throw new BadInputException("--save-teacher writes the updated teacher as an artifact of a layer stack; teacher " + c.teacher() + " is a graph");
    }

    /** A graph student (resnet:N or a graph zip): distilled from stored soft targets or online, written as an artifact directory or a DL4J zip. */
    private Integer distillGraph(DistillJob.Config c) {
        io.squeeze.spark.GraphDistillJob.check(c);
        output.graphZip(); // refuses --with-dl4j-zip with a zip
        var target = ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        checkSaveTeacher(c);
        SparkSession spark = SparkSessions.start("squeeze distill");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        var r = io.squeeze.spark.GraphDistillJob.run(spark, c, Main.args(), err());
        output.writeGraph(st, target, new ArtifactWriter.GraphContent(r.graph(), r.meta(),
                new ArtifactWriter.Provenance(c.student(), "", Main.args(), io.squeeze.spark.Jobs.toMap(c)), Map.of(), r.metrics(), Map.of(), null));
        if (r.teacher() != null && saveTeacher != null) ArtifactWriter.write(st, saveTeacher, output.overwrite, r.teacher(), output.dl4jZip);
        if (r.metrics().get("accuracy") instanceof Double acc) {
            out().printf(Locale.ROOT, "student accuracy %.4f", acc);
            if (r.metrics().get("baseline") instanceof Map<?, ?> b)
                out().printf(Locale.ROOT, ", teacher %.4f, agreement %.4f", (Double) b.get("accuracy"), (Double) b.get("agreement"));
            out().println();
        }
        out().printf("wrote %s (%d parameters)%n", target, r.graph().numParams());
        return Main.OK;
    }

    @Override
    public void check() {
        config();
    }
}
