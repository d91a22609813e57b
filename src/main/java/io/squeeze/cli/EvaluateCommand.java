package io.squeeze.cli;

import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.core.Storage;
import io.squeeze.data.Split;
import io.squeeze.eval.EvalReport;
import io.squeeze.spark.EvaluateJob;
import io.squeeze.spark.SparkSessions;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.Map;

@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = {"Evaluates a model on Spark: accuracy, top-5, loss, per-class accuracy, size and speed;",
                "with --baseline also the baseline's accuracy and the agreement of their predictions.",
                "IDX data is read from its test split unless --split train.",
                "Example: squeeze evaluate --model out/mnist-mlp --data idx:data/mnist --report out/report.json"})
public final class EvaluateCommand extends BaseCommand implements StageCommand {
    @Option(names = "--model", required = true, paramLabel = "M", description = "artifact directory, DL4J zip or Keras .h5")
    String model;

    @Mixin
    DataOptions data;

    @Option(names = "--baseline", paramLabel = "M0", description = "a model to compare against (e.g. the uncompressed one)")
    String baseline;

    @Option(names = "--report", paramLabel = "R.json", description = "write the report as JSON (any Hadoop path)")
    String report;

    @Option(names = "--batch", defaultValue = "256", description = "inference batch rows (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--local", description = "evaluate in this process instead of on Spark executors (the rows still stream through Spark)")
    boolean local;

    @Option(names = "--overwrite", description = "replace an existing report")
    boolean overwrite;

    @Override
    public Integer call() {
        var spec = data.spec(Split.TEST);
        SparkSession spark = SparkSessions.start("squeeze evaluate");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        Path reportPath = report == null ? null : io.squeeze.artifact.ArtifactWriter.checkTarget(st, report, overwrite);
        Loaded m = Models.loadRunnable(st, model, true);
        Loaded b = baseline == null ? null : Models.loadRunnable(st, baseline, true);
        Map<String, Object> r = EvaluateJob.run(spark, io.squeeze.spark.Execution.of(io.squeeze.spark.SparkSessions.jsc(spark), local), spec, m, b, batch);
        EvalReport.print(r, out());
        if (reportPath != null) {
            CliSupport.writeJson(st, reportPath, r, overwrite);
            out().println("report     " + reportPath);
        }
        return Main.OK;
    }

    @Override
    public void check() {
        data.spec(Split.TEST);
    }
}
