package io.squeeze.cli;

import io.squeeze.quantize.Observer;
import io.squeeze.prune.GlobalUnstructured;
import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Artifact;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Normalization;
import io.squeeze.data.Split;
import io.squeeze.eval.EvalReport;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelIO;
import io.squeeze.prune.Amount;
import io.squeeze.core.LayerSelector;
import io.squeeze.lowrank.RankPolicy;
import io.squeeze.lowrank.SvdMethod;
import io.squeeze.spark.EvaluateJob;
import io.squeeze.spark.FactorizeJob;
import io.squeeze.spark.FineTune;
import io.squeeze.spark.PruneJob;
import io.squeeze.spark.QuantizeJob;
import io.squeeze.spark.SoftTargetsJob;
import io.squeeze.spark.DistillJob;
import io.squeeze.distill.Teachers;
import io.squeeze.quantize.QuantConfig;
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
                "train an MLP on Spark, write it as an artifact, prune it globally on Spark and fine-tune it with the masks",
                "enforced, factorize it (energy 0.9) and fine-tune, quantize it to int8 (static, per-channel, calibrated on",
                "Spark), distill a 7x smaller student from its soft targets, load the artifacts back, evaluate them (the",
                "int8 one in integer arithmetic) against the",
                "original on the held-out rows, and print the report. Replaces its own output directory."})
public final class QuickstartCommand extends BaseCommand {
    /** The digits are 45 minibatches of 32 an epoch: workers average every 5 (the 40 of the commands' default is more than a worker's epoch here). */
    private static final int SYNC = 5;

    @Option(names = "--data-dir", defaultValue = "data/digits", description = "directory with digits-train.csv.gz and digits-test.csv.gz (default: ${DEFAULT-VALUE})")
    String dataDir;

    @Option(names = "--out", defaultValue = "out/quickstart", description = "output directory (default: ${DEFAULT-VALUE})")
    String outDir;

    @Option(names = "--arch", defaultValue = "mlp:128,64", description = "architecture (default: ${DEFAULT-VALUE})")
    String arch;

    @Option(names = "--epochs", defaultValue = "30", description = "training epochs (default: ${DEFAULT-VALUE})")
    int epochs;

    @Option(names = "--prune-amount", defaultValue = "0.8", description = "fraction of weights pruned (default: ${DEFAULT-VALUE})")
    double pruneAmount;

    @Override
    public Integer call() {
        long t0 = System.nanoTime();
        SparkSession spark = SparkSessions.start("squeeze quickstart");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        DataSpec train = DataSpec.parse("csv:" + dataDir + "/digits-train.csv.gz", Split.TRAIN, false);
        DataSpec test = DataSpec.parse("csv:" + dataDir + "/digits-test.csv.gz", Split.TEST, false);
        var err = err();
        err.println("quickstart: [1/7] training " + arch + " on " + train);
        Path out = st.path(outDir);
        st.mkdirs(out);
        TrainJob.Config trainJob = new TrainJob.Config(train, Arch.parse(arch), Normalization.MINMAX, new Architectures.Hyper(42, 0.003, 1e-4),
                new SparkTrainer.Config(epochs, 32, SYNC), null);
        ArtifactWriter.Content trained = trainJob.run(spark, new Path(out, "model").toString(), Main.args(), err);
        Path denseZip = new Path(out, "dense.zip");
        ModelIO.writeZip(st, denseZip, trained.net(), trained.meta(), true);
        LoadedModel dense = ModelIO.loadFile(st, denseZip);

        err.println("quickstart: [2/7] writing the dense artifact");
        Map<String, Object> dense0 = EvaluateJob.run(spark, test, Loaded.plain(dense), null, 256);
        String artifactUri = new Path(out, "model").toString();
        trainJob.publish(st, artifactUri, true, trained, false);

        // every step is the job of its command (train, prune, factorize, quantize, soft-targets, distill): each artifact
        // records its job's config, as if the command had been run
        int tuneEpochs = Math.max(1, epochs / 3);
        err.println("quickstart: [3/7] pruning globally to " + Math.round(100 * (1 - pruneAmount)) + " % of the weights on Spark, fine-tuning with the masks");
        String prunedUri = new Path(out, "pruned").toString();
        PruneJob.Config prune = new PruneJob.Config(denseZip.toString(), new GlobalUnstructured(), Amount.fraction(pruneAmount), Map.of(),
                LayerSelector.ALL, false, true, new FineTune(train.toString(), tuneEpochs, 32, null, SYNC), null, false, null);
        prune.publish(st, prunedUri, true, prune.run(spark, prunedUri, Main.args(), err), false);

        err.println("quickstart: [4/7] factorizing the dense layers (90 % of the spectral energy) on Spark, fine-tuning");
        String lowUri = new Path(out, "lowrank").toString();
        FactorizeJob.Config factorize = new FactorizeJob.Config(denseZip.toString(), new RankPolicy.Energy(0.9), new SvdMethod.Exact(),
                LayerSelector.ALL, true, new FineTune(train.toString(), tuneEpochs, 32, null, SYNC), null);
        factorize.publish(st, lowUri, true, factorize.run(spark, lowUri, Main.args(), err), false);

        err.println("quickstart: [5/7] quantizing to int8 (static, per-channel weights, min/max calibration on Spark)");
        QuantConfig qc = new QuantConfig(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8, QuantConfig.Granularity.CHANNEL,
                QuantConfig.Scheme.SYMMETRIC, false, new Observer.MinMax(), java.util.List.of());
        String quantUri = new Path(out, "int8").toString();
        QuantizeJob.Config quantize = new QuantizeJob.Config(denseZip.toString(), qc, train.toString(), 1000, 64, null, true, null);
        quantize.publish(st, quantUri, true, quantize.run(spark, quantUri, Main.args(), err), false);

        err.println("quickstart: [6/7] distilling a 7x smaller student (mlp:32) from the model's soft targets on Spark (T 4, alpha 0.1)");
        String softUri = new Path(out, "soft-targets").toString();
        SoftTargetsJob.run(spark, new SoftTargetsJob.Config(denseZip.toString(), null, null, train, 0, 256, false), Teachers.of(dense),
                softUri, true, Main.args(), err);
        String studentUri = new Path(out, "student").toString();
        DistillJob.Config distill = new DistillJob.Config(DistillJob.Mode.OFFLINE, softUri, null, train, "mlp:32", 4, 0.1,
                new SparkTrainer.Config(epochs, 32, SYNC), 0.003, 7, 0, Normalization.MINMAX, null, 0, null);
        distill.publish(st, studentUri, true, distill.run(spark, studentUri, Main.args(), err), false);

        err.println("quickstart: [7/7] evaluating the artifacts against the original on " + test);
        // report key, table label, artifact
        String[][] artifacts = {{"dense", "dense artifact", artifactUri},
                {"pruned", "pruned " + Math.round(100 * pruneAmount) + "% (global, fine-tuned)", prunedUri},
                {"lowrank", "low-rank (energy 0.9, fine-tuned)", lowUri}, {"int8", "int8 static per-channel (integer)", quantUri},
                {"student", "student mlp:32 (distilled, T 4)", studentUri}};
        Map<String, Object> reports = new LinkedHashMap<>();
        Map<String, LoadedModel> models = new LinkedHashMap<>();
        for (String[] a : artifacts) {
            Loaded l = Artifact.load(st, a[2]).loaded();
            models.put(a[0], l.model());
            reports.put(a[0], EvaluateJob.run(spark, test, l, Loaded.plain(dense), 256));
        }
        Path reportPath = new Path(out, "report.json");
        CliSupport.writeJson(st, reportPath, reports, true);

        var o = out();
        @SuppressWarnings("unchecked")
        Map<String, Object> prunedReport = (Map<String, Object>) reports.get("pruned");
        EvalReport.print(prunedReport, o);
        o.println();
        o.printf("%-34s %9s %9s %10s %12s %10s%n", "model", "accuracy", "params", "nonzeros", "stored", "agreement");
        row(o, "dense (DL4J zip)", (Double) dense0.get("accuracy"), dense, 1.0);
        for (String[] a : artifacts) {
            Map<?, ?> r = (Map<?, ?>) reports.get(a[0]);
            row(o, a[1], (Double) r.get("accuracy"), models.get(a[0]), (Double) ((Map<?, ?>) r.get("baseline")).get("agreement"));
        }
        o.printf(Locale.ROOT, "%nartifacts %s, %s, %s, %s and %s, report %s, %.1f s%n", artifactUri, prunedUri, lowUri, quantUri, studentUri, reportPath,
                (System.nanoTime() - t0) / 1e9);
        return Main.OK;
    }

    private static void row(java.io.PrintWriter o, String name, double acc, LoadedModel m, double agreement) {
        var ls = io.squeeze.model.LayerStats.of(m.net());
        o.printf(Locale.ROOT, "%-34s %9.4f %9d %10d %12s %10.4f%n", name, acc, io.squeeze.model.LayerStats.totalParams(ls),
                io.squeeze.model.LayerStats.totalNonzeros(ls), EvalReport.bytes(m.storedBytes()), agreement);
    }
}
