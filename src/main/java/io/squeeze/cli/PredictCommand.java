package io.squeeze.cli;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.Storage;
import io.squeeze.data.Split;
import io.squeeze.spark.PredictJob;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.Locale;

/** {@code squeeze predict}: batch scoring to Parquet on Spark ({@link PredictJob}). */
@Command(name = "predict", mixinStandardHelpOptions = true,
        description = {"Scores data with a model on Spark: Parquet (id, label, prediction, probability [, probabilities] [, topk_index,",
                "topk_probability]) on file:, hdfs:// or s3a://, one row per input row in the input's order, written atomically",
                "with _predictions.json and _SUCCESS. The model is an artifact, a DL4J zip, a Keras .h5 or an .onnx file.",
                "--runtime auto: ONNX Runtime (the model as export --format onnx writes it; the fastest measured, int8 with",
                "evaluate's integer arithmetic); a model the export refuses runs on integer, dense or dl4j.",
                "Example: squeeze predict --model out/quickstart/int8 --data csv:data/digits/digits-test.csv.gz --out parquet:out/pred"})
public final class PredictCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "M")
    String model;

    @picocli.CommandLine.Mixin
    DataOptions data;

    @Option(names = "--out", required = true, paramLabel = "parquet:P", description = "output directory (a parquet: prefix is optional)")
    String out;

    @Option(names = "--runtime", defaultValue = "auto", paramLabel = "R", description = "auto, dl4j, dense, integer or onnx (default: ${DEFAULT-VALUE})")
    String runtime;

    @Option(names = "--top-k", defaultValue = "0", paramLabel = "K", description = "also write the K most probable classes")
    int topK;

    @Option(names = "--probabilities", description = "also write every class's probability")
    boolean probabilities;

    @Option(names = "--batch", defaultValue = "256", paramLabel = "B", description = "rows per runtime call (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--overwrite")
    boolean overwrite;

    PredictJob.Config config() {
        PredictJob.Runtime r;
        try {
            r = PredictJob.Runtime.valueOf(runtime.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new io.squeeze.core.BadInputException("--runtime must be auto, dl4j, dense, integer or onnx, got " + runtime);
        }
        if (model == null || model.isBlank()) throw new io.squeeze.core.BadInputException("--model must be given");
        return new PredictJob.Config(Storage.withSparkDefaults().path(model).toString(), data.spec(Split.TEST), r, topK, probabilities, batch);
    }

    String outPath() {
        return out.startsWith("parquet:") ? out.substring("parquet:".length()) : out;
    }

    @Override
    public Integer call() {
        PredictJob.Config c = config();
        Storage before = Storage.withSparkDefaults();
        ArtifactWriter.checkTarget(before, outPath(), overwrite, java.util.List.of(c.model(), c.data().path())); // before any Spark work
        PredictJob.Resolved m = PredictJob.resolve(before, c.model(), c.runtime());
        if (topK > m.numClasses())
            throw new io.squeeze.core.BadInputException("--top-k must be in [1, " + m.numClasses() + "] (the model's classes), got " + topK);
        SparkSession spark = SparkSessions.start("squeeze predict");
        long rows = PredictJob.run(spark, c, m, outPath(), overwrite, Main.args(), err());
        out().printf(Locale.ROOT, "model %s (%s runtime, %d classes): %d rows%nwrote %s%n", m.source(), m.runtime().name().toLowerCase(Locale.ROOT),
                m.numClasses(), rows, new Storage(spark.sparkContext().hadoopConfiguration()).path(outPath()));
        return Main.OK;
    }
}
