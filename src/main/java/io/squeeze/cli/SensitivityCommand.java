package io.squeeze.cli;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Models;
import io.squeeze.core.BadInputException;
import io.squeeze.core.LayerSelector;
import io.squeeze.core.Storage;
import io.squeeze.data.Split;
import io.squeeze.model.LoadedModel;
import io.squeeze.search.Probe;
import io.squeeze.search.Sensitivity;
import io.squeeze.spark.Execution;
import io.squeeze.spark.SensitivityJob;
import io.squeeze.spark.SparkSessions;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

@Command(name = "sensitivity", mixinStandardHelpOptions = true,
        description = {"Per-layer sensitivity curves: for each layer and level, accuracy and loss with only that layer compressed",
                "(no fine-tuning) and the storage it saves. prune: fraction of the remaining weights (l1); quantize: bits",
                "(4, 8, 16 = fp16); factorize: rank as a fraction of the full rank. The trials run on the executors, in one pass",
                "over the data (--parallel data) or in slices over cached rows (--parallel trials). Writes JSON (a recipe can reuse it) and a plot beside it (.png).",
                "Example: squeeze sensitivity --model out/mnist --data idx:data/mnist --split train --technique prune --out out/sens.json"})
public final class SensitivityCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "M", description = "a DL4J zip, Keras .h5 or (float) artifact")
    String model;

    @Mixin
    DataOptions data;

    @Option(names = "--technique", required = true, paramLabel = "prune|quantize|factorize")
    String technique;

    @Option(names = "--levels", paramLabel = "L1,L2,...", description = "levels to measure (default per technique: prune 0.5..0.99, quantize 4,8,16, factorize 0.05..0.7)")
    String levels;

    @Option(names = "--layers", paramLabel = "L", description = "layers by index, range or name glob (default: every dense and convolution layer)")
    String layers;

    @Option(names = "--batch", defaultValue = "256", description = "inference batch rows (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--parallel", defaultValue = "data", paramLabel = "data|trials",
            description = {"data: one task per data partition, each running every trial over its rows (default: the data is read once);",
                    "trials: the rows cached on the executors, one task per slice of the trials over every row (see docs/BENCHMARKS.md)"})
    String parallel;

    @Option(names = "--local", description = "run the trials in this process instead of on Spark executors (the rows still stream through Spark)")
    boolean local;

    @Option(names = "--out", required = true, paramLabel = "S.json", description = "the curves (JSON); the plot is written beside it as .png")
    String out;

    @Option(names = "--overwrite", description = "replace existing files")
    boolean overwrite;

    SensitivityJob.Config config() {
        List<Double> ls = new ArrayList<>();
        if (levels != null)
            for (String s : levels.split(",")) {
                try {
                    ls.add(Double.parseDouble(s.trim()));
                } catch (NumberFormatException e) {
                    throw new BadInputException("sensitivity --levels must be numbers, got '" + s.trim() + "'");
                }
            }
        return new SensitivityJob.Config(Probe.of(technique), ls, LayerSelector.parse(layers), batch, SensitivityJob.Parallelism.parse(parallel));
    }

    @Override
    public Integer call() {
        SensitivityJob.Config c = config();
        var spec = data.spec(Split.TRAIN);
        Storage st0 = Storage.withSparkDefaults();
        Path json = ArtifactWriter.checkTarget(st0, out, overwrite, List.of(model));
        Path png = ArtifactWriter.checkTarget(st0, plotPath(out), overwrite, List.of(model));
        io.squeeze.artifact.Loaded loaded = Models.loadRunnable(st0, model, true);
        LoadedModel m = loaded.model();
        if (loaded.quant() != null) throw new BadInputException("model " + model + " is quantized; sensitivity measures a float model");
        SparkSession spark = SparkSessions.start("squeeze sensitivity");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        Sensitivity s = SensitivityJob.run(spark, Execution.of(SparkSessions.jsc(spark), local), spec, m, c, err());
        CliSupport.writeJson(st, json, s, overwrite);
        st.replace(png, Charts.sensitivity(s), overwrite);
        print(out(), s);
        out().println("wrote " + json + " and " + png);
        return Main.OK;
    }

    static String plotPath(String json) {
        return json.replaceAll("\\.json$", "") + ".png";
    }

    static void print(java.io.PrintWriter o, Sensitivity s) {
        o.printf(Locale.ROOT, "baseline accuracy %.4f, loss %.4f (%s, %d rows, %d trials, %.1f s, %s)%n", s.baseline().accuracy(), s.baseline().loss(),
                s.data(), s.run().rows(), s.run().trials(), s.run().seconds(), s.run().parallelism());
        StringBuilder h = new StringBuilder(String.format(Locale.ROOT, "%-5s %-10s %9s", "layer", "name", "params"));
        for (double l : s.levels()) h.append(String.format(Locale.ROOT, " %8s", trim(l)));
        o.println(h + "   (accuracy)");
        for (Sensitivity.LayerCurve lc : s.layers()) {
            StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%-5d %-10s %9d", lc.index(), lc.name(), lc.params()));
            for (Sensitivity.Point p : lc.curve()) b.append(String.format(Locale.ROOT, " %8.4f", p.accuracy()));
            o.println(b);
        }
    }

    static String trim(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }
}
