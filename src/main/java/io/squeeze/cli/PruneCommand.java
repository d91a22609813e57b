package io.squeeze.cli;

import io.squeeze.core.TensorKey;
import io.squeeze.prune.Threshold;
import io.squeeze.prune.RandomUnstructured;
import io.squeeze.prune.LnStructured;
import io.squeeze.prune.L1Unstructured;
import io.squeeze.prune.GlobalUnstructured;
import io.squeeze.core.BadInputException;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.Storage;
import io.squeeze.data.Split;
import io.squeeze.eval.EvalReport;
import io.squeeze.prune.Amount;
import io.squeeze.core.LayerSelector;
import io.squeeze.core.Mask;
import io.squeeze.prune.PruneMethod;
import io.squeeze.spark.PruneJob;
import io.squeeze.spark.PruneStream;
import io.squeeze.artifact.Manifest;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import com.fasterxml.jackson.databind.jsontype.NamedType;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

@Command(name = "prune", mixinStandardHelpOptions = true,
        description = {"Prunes a model with PyTorch's semantics (torch.nn.utils.prune); masks are computed on Spark executors.",
                "Methods: random, l1 (per tensor), global (one magnitude threshold over all chosen tensors), ln (whole",
                "output neurons/channels or inputs by their L1/L2/Linf norm), threshold (|w| < theta).",
                "Pruning a pruned artifact prunes among the remaining weights. Masks are stored in the artifact.",
                "Example: squeeze prune --model out/mnist --method global --amount 0.92 --fine-tune-data idx:data/mnist",
                "         --fine-tune-epochs 5 --out out/mnist-pruned"})
public final class PruneCommand extends BaseCommand implements StageCommand {
    /** The methods by their CLI (and manifest) names. */
    enum MethodName {
        RANDOM(RandomUnstructured.class), L1(L1Unstructured.class), GLOBAL(GlobalUnstructured.class), LN(LnStructured.class),
        THRESHOLD(Threshold.class);

        final Class<? extends PruneMethod> type;

        MethodName(Class<? extends PruneMethod> type) {
            this.type = type;
        }
    }

    /** The pruning methods under their manifest names, for reading a manifest's config back. */
    static List<NamedType> methodTypes() {
        return Arrays.stream(MethodName.values()).map(m -> new NamedType(m.type, m.name().toLowerCase(Locale.ROOT))).toList();
    }

    @Option(names = "--model", required = true, paramLabel = "M")
    String model;

    @Option(names = "--method", required = true, paramLabel = "random|l1|global|ln|threshold")
    MethodName method;

    @Option(names = "--amount", paramLabel = "A", description = "fraction in [0,1] of the remaining entries (round-half-to-even), a count, per layer: 0:0.3,1:0.6 (index or name), or @FILE with one LAYER:AMOUNT per line")
    String amount;

    @Option(names = "--layers", paramLabel = "L", description = "layer indices, ranges and name globs, e.g. 0-1 or dense* (default: every layer with weights)")
    String layers;

    @Option(names = "--include-bias", description = "prune biases too (default: weights only)")
    boolean includeBias;

    @Option(names = "--norm", defaultValue = "1", paramLabel = "1|2|inf", description = "ln: the norm ranking slices (default: ${DEFAULT-VALUE})")
    String norm;

    @Option(names = "--dim", defaultValue = "out", paramLabel = "out|in", description = "ln: prune output neurons/channels or inputs (default: ${DEFAULT-VALUE})")
    String dim;

    @Option(names = "--threshold", paramLabel = "THETA", description = "threshold: prune |w| < THETA")
    Double theta;

    @Option(names = "--seed", defaultValue = "42", description = "random: seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--local", description = "compute masks and fine-tune in this process instead of on Spark executors")
    boolean local;

    @Mixin
    FineTuneOptions fineTuneOptions;

    @Option(names = "--eval-data", paramLabel = "D", description = "evaluate the result against the source model and record the metrics")
    String evalData;

    @Option(names = "--split", description = "IDX split of --fine-tune-data (train) / --eval-data (test)")
    Split split;

    @Option(names = "--shrink", description = "after pruning, remove dense output neurons whose weights are all pruned (ln --dim out), and the matching inputs of the next layer")
    boolean shrink;

    @Mixin
    ArtifactOutput output;

    PruneMethod method() {
        return switch (method) {
            case RANDOM -> new RandomUnstructured(seed);
            case L1 -> new L1Unstructured();
            case GLOBAL -> new GlobalUnstructured();
            case LN -> new LnStructured(PruneMethod.Norm.parse(norm), parseDim(dim));
            case THRESHOLD -> {
                if (theta == null) throw new BadInputException("--threshold must be given for method threshold");
                yield new Threshold(theta);
            }
        };
    }

    static PruneMethod.Dim parseDim(String d) {
        return switch (d.trim().toLowerCase(Locale.ROOT)) {
            case "out" -> PruneMethod.Dim.OUT;
            case "in" -> PruneMethod.Dim.IN;
            default -> throw new BadInputException("prune.dim must be out or in, got '" + d + "'");
        };
    }

    static Map<String, Amount> perLayer(String s) {
        Map<String, Amount> m = new LinkedHashMap<>();
        if (s == null || !s.contains(":")) return m;
        for (String part : s.split(",")) {
            int c = part.lastIndexOf(':');
            if (c <= 0) throw new BadInputException("--amount per-layer entries are LAYER:AMOUNT, got '" + part + "'");
            m.put(part.substring(0, c).trim(), Amount.parse(part.substring(c + 1)));
        }
        return m;
    }

    /** Reads {@code @FILE} (any Hadoop path): LAYER:AMOUNT entries, one per line or comma-separated, # comments. */
    static String expandAmountFile(String a, Storage st) {
        if (a == null || !a.startsWith("@")) return a;
        String text = new String(st.readAll(st.path(a.substring(1)), "--amount file"), java.nio.charset.StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder();
        for (String line : text.split("\\R")) {
            String l = line.replaceAll("#.*", "").trim();
            if (l.isEmpty()) continue;
            if (sb.length() > 0) sb.append(',');
            sb.append(l);
        }
        if (!sb.toString().contains(":")) throw new BadInputException("--amount file " + a.substring(1) + " has no LAYER:AMOUNT entries");
        return sb.toString();
    }

    /** A branching graph: its weights masked or its dependency groups pruned and shrunk, written as an artifact directory or a DL4J zip. */
    private Integer pruneGraph(PruneJob.Config c) {
        output.graphZip(); // refuses --with-dl4j-zip with a zip
        var target = ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        var src = io.squeeze.artifact.Models.loadFloat(Storage.withSparkDefaults(), c.model(), "prune", c.model());
        io.squeeze.spark.GraphPruneJob.check(c, src);
        SparkSession spark = SparkSessions.start("squeeze prune");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        var r = io.squeeze.spark.GraphPruneJob.run(spark, c, src, err());
        output.writeGraph(st, target, new ArtifactWriter.GraphContent(r.graph(), src.meta(),
                new ArtifactWriter.Provenance(c.model(), src.sha256(), Main.args(), io.squeeze.spark.Jobs.toMap(c)), r.notes(), r.metrics(), r.masks(), null));
        if (r.metrics().get("accuracy") instanceof Double acc) out().printf(Locale.ROOT, "accuracy %.4f on %s%n", acc, c.evalData());
        if (r.chosen() > 0) out().printf(Locale.ROOT, "wrote %s (%,d of the chosen %,d weights pruned, %.1f%%)%n", target, r.pruned(), r.chosen(),
                100.0 * r.pruned() / r.chosen());
        else out().printf(Locale.ROOT, "wrote %s (%d parameters, %.1f%% of %d)%n", target, r.graph().numParams(),
                100.0 * r.graph().numParams() / r.paramsBefore(), r.paramsBefore());
        return Main.OK;
    }

    /** The validated job: every option checked before any Spark work. */
    PruneJob.Config config() {
        if (model == null || model.isBlank()) throw new BadInputException("--model must be given");
        Storage st = Storage.withSparkDefaults();
        String a = expandAmountFile(amount, st);
        Amount single = a == null || a.contains(":") ? null : Amount.parse(a);
        return new PruneJob.Config(st.path(model).toString(), method(), single, perLayer(a), LayerSelector.parse(layers), includeBias, !local,
                fineTuneOptions.config(), split, shrink, evalData);
    }

    @Override
    public Integer call() {
        PruneJob.Config c = config();
        if (io.squeeze.artifact.Models.isGraph(Storage.withSparkDefaults(), new org.apache.hadoop.fs.Path(c.model()))) return pruneGraph(c);
        // the output is checked before any Spark work
        ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        SparkSession spark = SparkSessions.start("squeeze prune");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        Manifest manifest;
        Map<TensorKey, Mask> masks;
        java.util.function.IntFunction<String> layerName;
        long params;
        Map<String, Object> metrics;
        PruneStream.Outcome streamed = PruneStream.applies(st, c)
                ? PruneStream.run(SparkSessions.jsc(spark), st, c, output.out, output.overwrite, output.dl4jZip, Main.args(), err()) : null;
        if (streamed != null) {
            manifest = streamed.manifest();
            masks = streamed.masks();
            layerName = streamed.layerNames()::get;
            params = streamed.params();
            metrics = Map.of();
        } else {
            ArtifactWriter.Content content = c.run(spark, output.out, Main.args(), err());
            manifest = ArtifactWriter.write(st, output.out, output.overwrite, content, output.dl4jZip);
            MultiLayerNetwork net = content.net();
            masks = content.masks();
            layerName = i -> net.getLayer(i).conf().getLayer().getLayerName();
            params = net.numParams();
            metrics = content.metrics();
        }
        var o = out();
        o.printf("%-5s %-10s %-16s %10s %10s %9s%n", "layer", "name", "tensor", "entries", "pruned", "sparsity");
        long total = 0, pruned = 0;
        for (Map.Entry<TensorKey, Mask> e : masks.entrySet()) {
            int layer = e.getKey().layer();
            o.printf(Locale.ROOT, "%-5d %-10s %-16s %10d %10d %8.2f%%%n", layer, layerName.apply(layer),
                    e.getKey().toString(), e.getValue().size(), e.getValue().prunedCount(), 100.0 * e.getValue().prunedCount() / e.getValue().size());
            total += e.getValue().size();
            pruned += e.getValue().prunedCount();
        }
        long packed = manifest.files().entrySet().stream().filter(e -> e.getKey().startsWith("packed/")).mapToLong(e -> e.getValue().bytes()).sum();
        String kept = total == 0 ? "no masks left (every pruned slice removed)"
                : String.format(Locale.ROOT, "pruned %d of %d masked entries (%.2f%%)", pruned, total, 100.0 * pruned / total);
        o.printf(Locale.ROOT, "%s; packed %s vs dense fp32 %s (%.1fx)%n", kept, EvalReport.bytes(packed), EvalReport.bytes(params * 4L), params * 4.0 / packed);
        if (!metrics.isEmpty()) o.printf(Locale.ROOT, "accuracy %.4f (source %.4f)%n", (Double) metrics.get("accuracy"),
                (Double) ((Map<?, ?>) metrics.get("baseline")).get("accuracy"));
        o.println("wrote " + st.path(output.out));
        return Main.OK;
    }

    @Override
    public void check() {
        config();
    }
}
