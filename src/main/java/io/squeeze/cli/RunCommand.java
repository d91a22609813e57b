package io.squeeze.cli;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.spark.SparkSessions;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Runs a recipe: the stages of a YAML file in order, each the command of its technique, every one writing a",
                "complete artifact under OUT/stages/NN-name/; OUT/final is the last model, with every stage's lineage in its",
                "manifest, and OUT/report.json compares them. A rerun skips each stage whose command line and inputs are",
                "unchanged, runs again from the first changed one, and after a crash or kill goes on from the last complete stage.",
                "With an accuracy gate, exit 3 when the final model does not meet it (the best candidate is then in OUT/best).",
                "The whole recipe is validated before any stage runs. Recipes: conf/recipes/.",
                "Example: squeeze run conf/recipes/quickstart.yaml --set stages.prune.amount=0.9"})
public final class RunCommand extends BaseCommand {
    /** Exit code when the final model misses the recipe's accuracy gate. */
    public static final int GATE_FAILED = 3;

    @Parameters(index = "0", paramLabel = "RECIPE.yaml", description = "the recipe (any Hadoop path)")
    String recipeFile;

    @Option(names = "--set", paramLabel = "PATH=VALUE", description = {"override a recipe value, repeatable: stages.1.prune.amount=0.9 (list indices from 0),",
            "stages.prune.amount=0.9 (when one stage is prune), data.eval=idx:data/mnist, vars.epochs=3"})
    List<String> sets = new ArrayList<>();

    @Option(names = "--out", paramLabel = "OUT", description = "the run's directory (default: the recipe's out, else out/NAME)")
    String out;

    @Option(names = "--from", paramLabel = "STAGE", description = "run again from this stage (NN, NN-name or a technique used once) even if unchanged")
    String from;

    @Option(names = "--until", paramLabel = "STAGE", description = "stop after this stage (no final, gate or best)")
    String until;

    @Option(names = "--overwrite", description = "replace a directory that holds another recipe's run")
    boolean overwrite;

    @Override
    public Integer call() {
        Storage st = Storage.withSparkDefaults();
        Path file = st.path(recipeFile);
        if (!st.exists(file) || st.isDirectory(file)) throw new BadInputException("recipe " + recipeFile + " does not exist or is not a file");
        String text = new String(st.readAll(file, "recipe"), StandardCharsets.UTF_8);
        Recipe r = Recipe.parse(recipeFile, text, sets);
        Object recipeOut = r.recipe() instanceof Map<?, ?> m ? m.get("out") : null;
        Path outDir = st.path(out != null ? out : recipeOut != null ? recipeOut.toString() : "out/" + r.name());
        RecipeRun run = new RecipeRun(r, st, outDir, err());
        int fromIndex = from == null ? 0 : run.stageIndex(from, "--from");
        int untilIndex = until == null ? r.stages().size() - 1 : run.stageIndex(until, "--until");
        if (untilIndex < fromIndex) throw new BadInputException("--until " + until + " comes before --from " + from);
        run.validate(overwrite, fromIndex);
        // validated: from here on things are written
        SparkSession spark = SparkSessions.start("squeeze run " + r.name());
        return run.execute(spark, new Storage(spark.sparkContext().hadoopConfiguration()), fromIndex, untilIndex, from != null, out());
    }

    /** Prints the report's table: one line per stage, then the gate. */
    static void print(java.io.PrintWriter o, Map<String, Object> report) {
        o.printf("%-16s %-8s %9s %9s %10s %12s %9s%n", "stage", "ran", "accuracy", "params", "nonzeros", "stored", "seconds");
        @SuppressWarnings("unchecked")
        Map<String, Object> base = (Map<String, Object>) report.get("baseline");
        if (base != null && base.get("metrics") instanceof Map<?, ?> bm)
            o.printf(java.util.Locale.ROOT, "%-16s %-8s %9.4f %9s %10s %12s %9s%n", "baseline", "-", (Double) bm.get("accuracy"),
                    bm.get("params"), bm.get("nonzeros"), io.squeeze.eval.EvalReport.bytes(((Number) bm.get("artifact_bytes")).longValue()), "");
        for (Object s : (List<?>) report.get("stages")) {
            Map<?, ?> sm = (Map<?, ?>) s;
            Map<?, ?> mt = (Map<?, ?>) sm.get("metrics");
            boolean has = mt != null && mt.get("accuracy") != null;
            o.printf(java.util.Locale.ROOT, "%-16s %-8s %9s %9s %10s %12s %9.1f%n", sm.get("stage"), Boolean.TRUE.equals(sm.get("skipped")) ? "skipped" : "ran",
                    has ? String.format(java.util.Locale.ROOT, "%.4f", (Double) mt.get("accuracy")) : "-", has ? mt.get("params") : "-",
                    has ? mt.get("nonzeros") : "-", has ? io.squeeze.eval.EvalReport.bytes(((Number) mt.get("artifact_bytes")).longValue()) : "-",
                    ((Number) sm.get("seconds")).doubleValue());
        }
        if (report.get("gate") instanceof Map<?, ?> g)
            o.printf(java.util.Locale.ROOT, "gate: %s %s (baseline %.4f, final %.4f, tolerable loss %s%s)%s%n", g.get("metric"),
                    Boolean.TRUE.equals(g.get("met")) ? "met" : "NOT met", (Double) g.get("baseline_value"), (Double) g.get("final_value"),
                    g.get("tolerable_loss"), Boolean.TRUE.equals(g.get("relative")) ? ", relative" : "",
                    g.get("trial") != null ? "; final = fallback trial " + g.get("trial") : "");
    }

    static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }
}
