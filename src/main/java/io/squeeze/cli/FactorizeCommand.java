package io.squeeze.cli;

import io.squeeze.core.BadInputException;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.Storage;
import io.squeeze.lowrank.RankPolicy;
import io.squeeze.lowrank.SvdMethod;
import io.squeeze.core.LayerSelector;
import io.squeeze.spark.FactorizeJob;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.Locale;
import java.util.Map;

@Command(name = "factorize", mixinStandardHelpOptions = true,
        description = {"Low-rank factorization of dense layers: W [nIn, nOut] ≈ (U_k Σ_k^½)(Σ_k^½ V_kᵀ), each layer rewritten as",
                "Dense(nIn→k, identity, no bias) + the original layer with nIn = k. SVDs run on Spark executors, one task per layer.",
                "Ranks: --rank K for every layer, --energy E (smallest k keeping E of Σσ²) or --params-budget B (a fraction of",
                "the chosen layers' weights, or a count; ranks chosen jointly to discard the least energy).",
                "Example: squeeze factorize --model out/mnist --energy 0.9 --fine-tune-data idx:data/mnist --fine-tune-epochs 3 --out out/mnist-lr"})
public final class FactorizeCommand extends BaseCommand implements StageCommand {
    static final class Policy {
        @Option(names = "--rank", paramLabel = "K", description = "a rank for every chosen layer, or per layer: 0:64,1:32 (index or name)")
        String rank;
        @Option(names = "--energy", paramLabel = "E", description = "energy fraction in (0,1] per layer, or per layer: 0:0.95,1:0.8")
        String energy;
        @Option(names = "--params-budget", paramLabel = "B")
        String budget;

        RankPolicy policy() {
            if (rank != null) {
                if (rank.contains(":")) return RankPolicy.PerLayer.parse(rank, false, "--rank");
                try {
                    return new RankPolicy.Fixed(Integer.parseInt(rank.trim()));
                } catch (NumberFormatException e) {
                    throw new BadInputException("factorize.rank must be an integer or LAYER:RANK list, got '" + rank + "'");
                }
            }
            if (energy != null) {
                if (energy.contains(":")) return RankPolicy.PerLayer.parse(energy, true, "--energy");
                try {
                    return new RankPolicy.Energy(Double.parseDouble(energy.trim()));
                } catch (NumberFormatException e) {
                    throw new BadInputException("factorize.energy must be a number or LAYER:ENERGY list, got '" + energy + "'");
                }
            }
            return RankPolicy.Budget.parse(budget);
        }
    }

    enum SvdName { EXACT, RANDOMIZED }

    @Option(names = "--model", required = true, paramLabel = "M")
    String model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Policy policy;

    @Option(names = "--svd", defaultValue = "exact", paramLabel = "exact|randomized")
    SvdName svd;

    @Option(names = "--oversample", defaultValue = "10", description = "randomized: oversampling p (default: ${DEFAULT-VALUE})")
    int oversample;

    @Option(names = "--power-iters", defaultValue = "2", description = "randomized: power iterations q (default: ${DEFAULT-VALUE})")
    int powerIters;

    @Option(names = "--seed", defaultValue = "42")
    long seed;

    @Option(names = "--layers", paramLabel = "L", description = "layers by index, range or name glob (default: every dense layer)")
    String layers;

    @Option(names = "--local", description = "run the SVDs and any fine-tuning in this process instead of on Spark executors")
    boolean local;

    @Mixin
    FineTuneOptions fineTuneOptions;

    @Option(names = "--eval-data", paramLabel = "D", description = "evaluate the result against the source model and record the metrics")
    String evalData;

    @Mixin
    ArtifactOutput output;

    /** The validated job: every option checked before any Spark work. */
    FactorizeJob.Config config() {
        if (model == null || model.isBlank()) throw new BadInputException("--model must be given");
        SvdMethod method = svd == SvdName.EXACT ? new SvdMethod.Exact() : new SvdMethod.Randomized(oversample, powerIters, seed);
        return new FactorizeJob.Config(Storage.withSparkDefaults().path(model).toString(), policy.policy(), method, LayerSelector.parse(layers),
                !local, fineTuneOptions.config(), evalData);
    }

    @Override
    public Integer call() {
        FactorizeJob.Config c = config();
        if (io.squeeze.artifact.Models.isGraph(Storage.withSparkDefaults(), new org.apache.hadoop.fs.Path(c.model()))) return factorizeGraph(c);
        // the output is checked before any Spark work
        ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        SparkSession spark = SparkSessions.start("squeeze factorize");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        FactorizeJob.Outcome outcome = FactorizeJob.execute(spark, c, output.out, Main.args(), err());
        ArtifactWriter.write(st, output.out, output.overwrite, outcome.content(), output.dl4jZip);
        report(outcome.result(), outcome.result().net().numParams(), outcome.content().metrics());
        out().println("wrote " + st.path(output.out));
        return Main.OK;
    }

    /** A branching graph: its convolution and dense vertices factorized, written as an artifact directory or a DL4J zip. */
    private Integer factorizeGraph(FactorizeJob.Config c) {
        output.graphZip(); // refuses --with-dl4j-zip with a zip
        var target = ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        var src = io.squeeze.artifact.Models.loadFloat(Storage.withSparkDefaults(), c.model(), "factorize", c.model());
        SparkSession spark = SparkSessions.start("squeeze factorize");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        FactorizeJob.GraphOutcome g = FactorizeJob.executeGraph(spark, c, src, err());
        // notes by vertex: a factorized vertex keeps its name for its second half, its first half is the vertex it reads
        java.util.List<String> names = io.squeeze.model.GraphMasks.names(src.graph());
        Map<String, ArtifactWriter.LayerNote> notes = new java.util.LinkedHashMap<>();
        g.result().notes().forEach((i, n) -> {
            notes.put(names.get(i), n);
            if (n.method().startsWith("factorize")) notes.put(g.result().graph().getConfiguration().getVertexInputs().get(names.get(i)).get(0), n);
        });
        output.writeGraph(st, target, new ArtifactWriter.GraphContent(g.result().graph(), src.meta(),
                new ArtifactWriter.Provenance(c.model(), src.sha256(), Main.args(), io.squeeze.spark.Jobs.toMap(c)), notes, g.metrics(), Map.of(), null));
        report(g.result(), g.result().graph().numParams(), g.metrics());
        out().println("wrote " + target);
        return Main.OK;
    }

    /** Each layer's rank and error, the weights before and after, the accuracy against the source. */
    private void report(FactorizeJob.Result r, long params, Map<String, Object> metrics) {
        var o = out();
        Object previous = null;
        for (var e : r.notes().entrySet()) { // a factorized layer's two halves share one note: print it once
            if (e.getValue() != previous) o.printf(Locale.ROOT, "layer %-3d %-24s %s%n", e.getKey(), e.getValue().method(), e.getValue().details());
            previous = e.getValue();
        }
        o.printf(Locale.ROOT, "dense weights %d -> %d (%.1f%%), network parameters %d%n", r.weightsBefore(), r.weightsAfter(),
                100.0 * r.weightsAfter() / r.weightsBefore(), params);
        if (!metrics.isEmpty()) o.printf(Locale.ROOT, "accuracy %.4f (source %.4f)%n", (Double) metrics.get("accuracy"),
                (Double) ((Map<?, ?>) metrics.get("baseline")).get("accuracy"));
    }

    @Override
    public void check() {
        config();
    }
}
