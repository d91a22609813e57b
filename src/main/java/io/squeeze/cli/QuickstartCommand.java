package io.squeeze.cli;

import io.squeeze.artifact.Artifact;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Normalization;
import io.squeeze.data.Split;
import io.squeeze.eval.EvalReport;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelIO;
import io.squeeze.spark.EvaluateJob;
import io.squeeze.spark.SparkSessions;
import io.squeeze.spark.SparkTrainer;
import io.squeeze.spark.TrainJob;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

@Command(name = "quickstart", mixinStandardHelpOptions = true,
        description = {"The whole pipeline on the UCI 8x8 digits shipped in data/digits (1,797 rows):",
                "train an MLP on Spark, write it as an artifact (packed form), load the artifact back, evaluate it",
                "against the original on the held-out rows, and print the report. Replaces its own output directory."})
public final class QuickstartCommand extends BaseCommand {
    @Option(names = "--data-dir", defaultValue = "data/digits", description = "directory with digits-train.csv.gz and digits-test.csv.gz (default: ${DEFAULT-VALUE})")
    String dataDir;

    @Option(names = "--out", defaultValue = "out/quickstart", description = "output directory (default: ${DEFAULT-VALUE})")
    String outDir;

    @Option(names = "--arch", defaultValue = "mlp:128,64", description = "architecture (default: ${DEFAULT-VALUE})")
    String arch;

    @Option(names = "--epochs", defaultValue = "30", description = "training epochs (default: ${DEFAULT-VALUE})")
    int epochs;

    @Override
    public Integer call() {
        long t0 = System.nanoTime();
        SparkSession spark = SparkSessions.start("squeeze quickstart");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        DataSpec train = DataSpec.parse("csv:" + dataDir + "/digits-train.csv.gz", Split.TRAIN, false);
        DataSpec test = DataSpec.parse("csv:" + dataDir + "/digits-test.csv.gz", Split.TEST, false);
        var err = err();
        err.println("quickstart: [1/3] training " + arch + " on " + train);
        TrainJob.Trained t = TrainJob.run(spark, train, Arch.parse(arch), Normalization.MINMAX,
                new Architectures.Hyper(42, 0.003, 1e-4), new SparkTrainer.Config(epochs, 32, 5), err);
        Path out = st.path(outDir);
        Path denseZip = new Path(out, "dense.zip");
        st.mkdirs(out);
        ModelIO.writeZip(st, denseZip, t.net(), t.meta(), true);
        LoadedModel dense = ModelIO.loadFile(st, denseZip);

        err.println("quickstart: [2/3] writing the artifact");
        Map<String, Object> dense0 = EvaluateJob.run(spark, test, dense, null, 256);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("command", "quickstart");
        config.put("data", train.toString());
        config.put("arch", arch);
        config.put("epochs", epochs);
        config.put("normalize", "minmax");
        Map<String, Object> metrics = new LinkedHashMap<>();
        metrics.put("accuracy", dense0.get("accuracy"));
        metrics.put("loss", dense0.get("loss"));
        metrics.put("data", test.toString());
        String artifactUri = new Path(out, "model").toString();
        ArtifactWriter.write(st, artifactUri, true, ArtifactWriter.Content.dense(t.net(), t.meta(),
                new ArtifactWriter.Provenance(denseZip.toString(), dense.sha256(), Main.args(), config), metrics));

        err.println("quickstart: [3/3] evaluating the artifact against the original on " + test);
        LoadedModel artifact = Artifact.load(st, artifactUri).model();
        Map<String, Object> report = EvaluateJob.run(spark, test, artifact, dense, 256);
        Path reportPath = new Path(out, "report.json");
        CliSupport.writeJson(st, reportPath, report, true);

        var o = out();
        EvalReport.print(report, o);
        o.println();
        o.printf("%-22s %9s %9s %10s %12s%n", "model", "accuracy", "params", "nonzeros", "stored");
        row(o, "dense (DL4J zip)", (Double) dense0.get("accuracy"), dense);
        row(o, "artifact (packed)", (Double) report.get("accuracy"), artifact);
        o.printf(Locale.ROOT, "%nartifact %s, report %s, %.1f s%n", artifactUri, reportPath, (System.nanoTime() - t0) / 1e9);
        return Main.OK;
    }

    private static void row(java.io.PrintWriter o, String name, double acc, LoadedModel m) {
        var ls = io.squeeze.model.LayerStats.of(m.net());
        o.printf(Locale.ROOT, "%-22s %9.4f %9d %10d %12s%n", name, acc, io.squeeze.model.LayerStats.totalParams(ls),
                io.squeeze.model.LayerStats.totalNonzeros(ls), EvalReport.bytes(m.storedBytes()));
    }
}
