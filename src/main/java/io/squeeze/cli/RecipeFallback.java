package io.squeeze.cli;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Manifest;
import io.squeeze.cli.RunState.StageRecord;
import io.squeeze.core.Storage;
import io.squeeze.model.Json;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The accuracy-driven fallback of a recipe whose final model misses its gate (Intel Neural Compressor's basic
 * strategy, per layer): trial after trial, the layer whose allocated level does the most measured damage, over all
 * stages with budgets from sensitivity, is set one level less compressed (or left as it is); the recipe runs again
 * from the first relaxed stage in {@code OUT/trials/tNN/} and its final model is evaluated on {@code data.eval}
 * against the same baseline. The first trial that meets the gate becomes {@code OUT/final} (lineage: the stages
 * before it, then the trial's); otherwise, after {@code max_trials} or {@code timeout}, the best trial competes for
 * {@code OUT/best}. Every trial is in the report.
 */
final class RecipeFallback {
    private RecipeFallback() {}

    record Outcome(boolean met, double value, int trial, int trials, int bestTrial, double bestValue) {}

    static Outcome run(RecipeRun main, SparkSession spark, Storage st, List<StageRecord> records, double base, Map<String, Object> report) {
        Recipe.Gate g = main.recipe().gate();
        Map<Integer, RecipeAllocation.Solved> current = new java.util.TreeMap<>(main.solvedAt);
        List<Map<String, Object>> trials = new ArrayList<>();
        report.put("trials", trials);
        long t0 = System.nanoTime();
        int from = Integer.MAX_VALUE, bestTrial = -1;
        double bestValue = Double.NaN;
        PrintWriter err = main.err();
        for (int t = 1; t <= g.maxTrials(); t++) {
            if (g.timeoutSeconds() > 0 && (System.nanoTime() - t0) / 1e9 > g.timeoutSeconds()) break;
            int stage = -1;
            double worst = -1; // a stage with no compressed layer left has worstDamage -1
            for (Map.Entry<Integer, RecipeAllocation.Solved> e : current.entrySet())
                if (e.getValue().worstDamage() > worst) {
                    worst = e.getValue().worstDamage();
                    stage = e.getKey();
                }
            if (stage < 0) break; // every allocated layer is uncompressed
            RecipeAllocation.Solved relaxed = current.get(stage).relaxed();
            if (relaxed == null) break;
            current.put(stage, relaxed);
            from = Math.min(from, stage);
            if (!main.canStartAt(from)) {
                err.println("run: no fallback trial: stage " + (from + 1) + " cannot run without what earlier stages made");
                break;
            }
            Recipe sub = main.from(from);
            Path dir = trialDir(main, t);
            RecipeRun run = new RecipeRun(sub, st, dir, err);
            for (Map.Entry<Integer, RecipeAllocation.Solved> e : current.entrySet())
                if (e.getKey() >= from) run.forced.put(e.getKey() - from, e.getValue());
            Object what = relaxed.record().get("relaxed");
            err.println(String.format(Locale.ROOT, "run: fallback trial %d/%d: %s of stage %02d relaxed %s; running stages %02d.. in %s",
                    t, g.maxTrials(), relaxed.spec().technique(), stage + 1, what, from + 1, dir));
            int code = run.execute(spark, st, 0, sub.stages().size() - 1, false, new PrintWriter(new StringWriter()));
            Map<?, ?> r = Json.read(st.readAll(new Path(dir, "report.json"), "trial report"), Map.class);
            Map<?, ?> gate = (Map<?, ?>) r.get("gate");
            if (gate == null || (code != Main.OK && code != RunCommand.GATE_FAILED)) {
                trials.add(RunCommand.map("trial", t, "relaxed", what, "stage", stage + 1, "exit", code));
                break;
            }
            double v = ((Number) gate.get("final_value")).doubleValue();
            boolean met = Boolean.TRUE.equals(gate.get("met"));
            long stored = st.totalBytes(new Path(dir, "final")); // the whole directory, as the stages' "stored"
            trials.add(RunCommand.map("trial", t, "relaxed", what, "stage", stage + 1, "from", from + 1, "technique", relaxed.spec().technique(),
                    "levels", relaxed.record().get("levels"), g.metric().key(), v, "met", met, "stored_bytes", stored, "dir", dir.toString()));
            err.println(String.format(Locale.ROOT, "run: fallback trial %d: %s %.4f (%s)", t, g.metric().key(), v, met ? "meets the gate" : "misses the gate"));
            if (bestTrial < 0 || RecipeRun.better(g, v, bestValue)) {
                bestTrial = t;
                bestValue = v;
            }
            if (met) {
                publish(main, st, records, t, "final");
                return new Outcome(true, v, t, t, t, v);
            }
        }
        return new Outcome(false, Double.NaN, -1, trials.size(), bestTrial, bestValue);
    }

    static Path trialDir(RecipeRun main, int t) {
        return new Path(new Path(main.out(), "trials"), String.format(Locale.ROOT, "t%02d", t));
    }

    /** Trial {@code t}'s final as {@code OUT/name}, its lineage the main stages before the trial's first, then the trial's. */
    static void publish(RecipeRun main, Storage st, List<StageRecord> records, int t, String name) {
        Path trialFinal = new Path(trialDir(main, t), "final");
        Manifest m = Json.read(st.readAll(new Path(trialFinal, ArtifactWriter.MANIFEST), "manifest"), Manifest.class);
        List<Map<String, Object>> lineage = new ArrayList<>();
        int from = main.recipe().stages().size() - m.lineage().size();
        if (from > 0) lineage.addAll(main.lineage(st, records, from - 1));
        for (Map<String, Object> e : m.lineage()) {
            Map<String, Object> c = new LinkedHashMap<>(e);
            c.put("trial", t);
            lineage.add(c);
        }
        ArtifactWriter.copyWithLineage(st, trialFinal.toString(), new Path(main.out(), name).toString(), true, lineage);
    }
}
