package io.squeeze.cli;

import io.squeeze.artifact.Models;
import io.squeeze.core.Storage;
import io.squeeze.data.Split;
import io.squeeze.distill.Teacher;
import io.squeeze.spark.SoftTargetsJob;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.Locale;

@Command(name = "soft-targets", mixinStandardHelpOptions = true,
        description = {"Labels data with a teacher's logits on Spark, for distillation: Parquet (id, label, logits) on file:, hdfs:// or",
                "s3a://, one row per input row in the input's order, written atomically with a manifest and _SUCCESS.",
                "The teacher is a DL4J zip, a Keras .h5, an artifact, or an ONNX model (run with ONNX Runtime; fed the raw",
                "features, reshaped to its input shape). --top-k K keeps the K largest logits per row with their classes.",
                "Example: squeeze soft-targets --teacher out/mnist/teacher --data idx:data/mnist --out out/mnist/soft"})
public final class SoftTargetsCommand extends BaseCommand implements StageCommand {
    @Option(names = "--teacher", required = true, paramLabel = "T")
    String teacher;

    @picocli.CommandLine.Mixin
    DataOptions data;

    @Option(names = "--out", required = true, paramLabel = "P")
    String out;

    @Option(names = "--top-k", defaultValue = "0", paramLabel = "K", description = "keep only the K largest logits (default: all)")
    int topK;

    @Option(names = "--batch", defaultValue = "256", paramLabel = "B")
    int batch;

    @Option(names = "--onnx-input", paramLabel = "NAME", description = "ONNX input name (default: the model's only input)")
    String onnxInput;

    @Option(names = "--onnx-output", paramLabel = "NAME", description = "ONNX output name (default: the model's only output)")
    String onnxOutput;

    @Option(names = "--local", description = "run the teacher and write the output in this process instead of on Spark executors (the rows still stream through Spark)")
    boolean local;

    @Option(names = "--overwrite")
    boolean overwrite;

    /** The validated job: every option checked before any Spark work. */
    SoftTargetsJob.Config config() {
        if (teacher == null || teacher.isBlank()) throw new io.squeeze.core.BadInputException("--teacher must be given");
        return new SoftTargetsJob.Config(Storage.withSparkDefaults().path(teacher).toString(), onnxInput, onnxOutput, data.spec(Split.TRAIN),
                topK, batch, local);
    }

    @Override
    public Integer call() {
        SoftTargetsJob.Config c = config();
        Storage before = Storage.withSparkDefaults();
        io.squeeze.artifact.ArtifactWriter.checkTarget(before, out, overwrite, c.inputs()); // before any Spark work
        Teacher t = c.loadTeacher(before);
        SparkSession spark = SparkSessions.start("squeeze soft-targets");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        SoftTargetsJob.Result r = SoftTargetsJob.run(spark, c, t, out, overwrite, Main.args(), err());
        out().printf(Locale.ROOT, "teacher %s (%s, %d classes): %d rows, %d labelled, %.0f rows/s%nwrote %s%n", t.source(), t.kind(),
                t.numClasses(), r.manifest().dataRows(), r.manifest().labelledRows(), r.rowsPerSecond(), st.path(out));
        return Main.OK;
    }

    @Override
    public void check() {
        config();
    }
}
