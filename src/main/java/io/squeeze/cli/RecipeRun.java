package io.squeeze.cli;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.cli.Recipe.Stage;
import io.squeeze.cli.RunState.StageRecord;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Split;
import io.squeeze.model.Json;
import io.squeeze.spark.EvaluateJob;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One {@code squeeze run} of a recipe in a directory: the plan (each stage's command line and its inputs), the
 * validation before any Spark work, and the run itself — each stage skipped or run as its command in this
 * process, evaluated on the recipe's {@code data.eval} against the baseline, and recorded; then {@code final},
 * the gate, {@code best} and {@code report.json}.
 */
final class RecipeRun {
    private final Recipe recipe;
    private final Storage validateSt;
    private final Path out;
    private final PrintWriter err;
    /** Per stage: its directory, the model it reads, the soft targets it reads, the model it makes (or null). */
    private final List<Path> dirs = new ArrayList<>();
    private final List<String> modelIn = new ArrayList<>(), softIn = new ArrayList<>(), modelOut = new ArrayList<>();
    private String baseline;
    private int baselineStage = -1;
    /** Allocations solved in this run, by stage; allocations a fallback trial imposes instead of solving, by stage. */
    final Map<Integer, RecipeAllocation.Solved> solvedAt = new java.util.TreeMap<>(), forced = new java.util.TreeMap<>();

    RecipeRun(Recipe recipe, Storage st, Path out, PrintWriter err) {
        this.recipe = recipe;
        this.validateSt = st;
        this.out = out;
        this.err = err;
        String model = recipe.model() == null ? null : st.path(recipe.model()).toString(), soft = null;
        String source = model;
        for (Stage s : recipe.stages()) {
            Path dir = new Path(new Path(out, "stages"), s.dir());
            dirs.add(dir);
            if (s.from() != null) model = s.from() < 0 ? source : modelOut.get(s.from());
            modelIn.add(model);
            softIn.add(soft);
            String made = s.technique().makesModel() ? RecipeStages.output(s, dir).toString() : null;
            modelOut.add(made);
            if (made != null) {
                if (model == null && baselineStage < 0) baselineStage = s.index(); // the trained model is the baseline
                model = made;
            }
            if (s.technique() == Technique.SOFT_TARGETS) soft = dir.toString();
        }
        Recipe.Gate g = recipe.gate();
        baseline = g != null && g.baseline() != null ? st.path(g.baseline()).toString()
                : recipe.model() != null ? st.path(recipe.model()).toString() : baselineStage >= 0 ? modelOut.get(baselineStage) : null;
    }

    /** A stage by NN, NN-name, or a technique used by exactly one stage. */
    int stageIndex(String spec, String flag) {
        List<Integer> hits = new ArrayList<>();
        for (Stage s : recipe.stages()) if (s.named(spec)) hits.add(s.index());
        if (hits.size() != 1) throw new BadInputException(flag + " '" + spec + "' must name one stage (" + String.join(", ", recipe.stages().stream().map(Stage::dir).toList()) + ")");
        return hits.get(0);
    }

    RecipeStages.Inputs inputs(int i, boolean overwrite, List<String> allocated) {
        return new RecipeStages.Inputs(modelIn.get(i), softIn.get(i), baseline, dirs.get(i), overwrite, allocated);
    }

    /** Everything that can be checked before any Spark work: the directory, the inputs, every stage's command line. */
    void validate(boolean overwrite, int fromIndex) {
        Storage st = validateSt;
        if (st.exists(out) && !st.isDirectory(out)) throw new BadInputException("output " + out + " exists and is not a directory");
        Path rec = new Path(out, RunState.RECIPE);
        if (st.exists(rec)) {
            RunState.RecipeRecord rr = Json.read(st.readAll(rec, "recipe record"), RunState.RecipeRecord.class);
            if (!recipe.name().equals(rr.name()) && !overwrite)
                throw new BadInputException("output " + out + " holds a run of recipe '" + rr.name() + "', not '" + recipe.name() + "'; pass --overwrite to replace it");
        } else if (st.exists(out) && st.list(out).length > 0 && !overwrite) {
            throw new BadInputException("output " + out + " exists and is not a recipe run; pass --overwrite to replace it");
        }
        st.checkWritable(out);
        if (recipe.model() != null && !st.exists(st.path(recipe.model())))
            throw new BadInputException(recipe.file() + ": model " + recipe.model() + " does not exist");
        if (baseline != null && baselineStage < 0 && !st.exists(st.path(baseline)))
            throw new BadInputException(recipe.file() + ": accuracy.baseline " + baseline + " does not exist");
        Recipe.Data d = recipe.data();
        for (String[] role : new String[][]{{"train", d.train()}, {"calibration", d.calibration()}, {"eval", d.eval()}}) {
            if (role[1] == null) continue;
            String path;
            try {
                path = DataSpec.parse(role[1], Split.TRAIN, false).path();
            } catch (BadInputException e) {
                throw new BadInputException(recipe.file() + ": data." + role[0] + ": " + e.getMessage());
            }
            if (!st.exists(st.path(path))) throw new BadInputException(recipe.file() + ": data." + role[0] + " " + role[1] + " does not exist");
        }
        String source = recipe.model() == null ? null : st.path(recipe.model()).toString();
        for (Stage s : recipe.stages()) {
            // overrides of a stage that reads the source model are resolved against its layers now
            boolean onSource = !s.overrides().isEmpty() && source != null && source.equals(modelIn.get(s.index()));
            if (s.auto() != null && source != null && source.equals(modelIn.get(s.index())))
                RecipeAllocation.checkBefore(st, recipe.file(), s.auto(), source);
            RecipeStages.check(recipe, s, RecipeStages.argv(recipe, s, inputs(s.index(), false, null), onSource ? m -> layerNames(st, m) : null));
        }
        for (int i = 0; i < fromIndex; i++)
            if (RunState.read(st, RunState.recordPath(out, recipe.stages().get(i))) == null)
                throw new BadInputException("--from: stage " + recipe.stages().get(i).dir() + " before it has not run in " + out + "; run without --from");
    }

    int execute(SparkSession spark, Storage st, int fromIndex, int untilIndex, boolean forceFrom, PrintWriter o) {
        long t0 = System.nanoTime();
        st.mkdirs(out);
        Path recipePath = new Path(out, RunState.RECIPE);
        byte[] recipeJson = Json.bytes(new RunState.RecipeRecord(recipe.name(), recipe.file(), recipe.recipe()));
        if (!st.exists(recipePath) || !java.util.Arrays.equals(recipeJson, st.readAll(recipePath, "recipe record"))) st.replace(recipePath, recipeJson, true);
        Map<String, String> produced = new HashMap<>();
        List<Map<String, Object>> stages = new ArrayList<>();
        List<StageRecord> records = new ArrayList<>();
        int n = recipe.stages().size();
        if (recipe.model() != null) produced.put(st.path(recipe.model()).toString(), RunState.identity(st, recipe.model()));
        err.println(String.format(Locale.ROOT, "run: recipe %s, %d stages, in %s", recipe.name(), n, out));
        Loaded base = null;
        for (int i = 0; i <= untilIndex; i++) {
            Stage s = recipe.stages().get(i);
            String tag = String.format(Locale.ROOT, "run: [%d/%d] %s", i + 1, n, s.dir());
            Path dir = dirs.get(i), recPath = RunState.recordPath(out, s);
            RecipeAllocation.Solved solved = forced.containsKey(i) ? forced.get(i) : s.auto() == null ? null
                    : RecipeAllocation.solve(spark, st, s.auto(), modelIn.get(i), recipe.data().calibration(), dir, err);
            if (solved != null) solvedAt.put(i, solved);
            List<String> argv = RecipeStages.argv(recipe, s, inputs(i, st.exists(dir), solved == null ? null : solved.argv()), m -> layerNames(st, m));
            Map<String, String> in = RunState.inputs(st, argv, produced);
            String key = RunState.key(argv, in);
            StageRecord prev = RunState.read(st, recPath);
            String output = RecipeStages.output(s, dir).toString();
            // before --from: kept as recorded; from it on (with --from): run again; otherwise: skipped when unchanged
            boolean skip = i < fromIndex || !forceFrom && prev != null && prev.key().equals(key) && prev.outputSha256() != null
                    && prev.outputSha256().equals(RunState.identity(st, output));
            if (i < fromIndex && prev == null) throw new IllegalStateException("stage " + s.dir() + " has no record");
            StageRecord rec;
            if (skip) {
                err.println(tag + ": unchanged since " + prev.finished() + ", skipped");
                rec = prev;
            } else {
                err.println(tag + ": squeeze " + String.join(" ", argv));
                err.flush();
                long ts = System.nanoTime();
                int code = Main.execute(o, err, argv.toArray(String[]::new));
                if (code != Main.OK) {
                    err.println(tag + ": failed (exit " + code + "); a rerun goes on from this stage");
                    return code;
                }
                Map<String, Object> metrics = new LinkedHashMap<>();
                if (modelOut.get(i) != null && recipe.data().eval() != null) {
                    if (base == null && baseline != null && (baselineStage < 0 || baselineStage <= i))
                        base = Models.loadRunnable(st, baseline, true);
                    metrics.putAll(evaluate(spark, st, modelOut.get(i), baseline != null && !baseline.equals(modelOut.get(i)) ? base : null));
                }
                rec = new StageRecord(i, s.dir(), s.technique().key, argv, key, in, output, RunState.identity(st, output), metrics,
                        (System.nanoTime() - ts) / 1e9, Instant.now().toString(), solved == null ? null : solved.record());
                RunState.write(st, recPath, rec);
                Object acc = metrics.get("accuracy");
                err.println(tag + String.format(Locale.ROOT, ": done in %.1f s", rec.seconds()) + (acc == null ? "" : String.format(Locale.ROOT, ", accuracy %.4f", (Double) acc)));
            }
            produced.put(output, rec.outputSha256()); // a model stage's output is its model
            records.add(rec);
            Map<String, Object> sm = new LinkedHashMap<>(Json.MAPPER.convertValue(rec, Map.class));
            sm.put("skipped", skip);
            stages.add(sm);
        }
        Map<String, Object> report = RunCommand.map("recipe", recipe.name(), "file", recipe.file(), "out", out.toString(), "source", recipe.model());
        int code = Main.OK;
        if (untilIndex == n - 1) code = finish(spark, st, records, report);
        report.put("stages", stages);
        report.put("seconds", (System.nanoTime() - t0) / 1e9);
        st.replace(new Path(out, "report.json"), Json.bytes(report), true);
        List<String> made = new ArrayList<>();
        for (int i = 0; i <= untilIndex; i++) if (modelOut.get(i) != null) made.add(modelOut.get(i));
        Map<String, io.squeeze.search.Sensitivity> sensitivities = new LinkedHashMap<>();
        solvedAt.forEach((i, solved) -> sensitivities.put(recipe.stages().get(i).dir(), solved.sensitivity()));
        st.replace(new Path(out, "report.html"), RunReport.html(st, report, made, sensitivities, recipe.recipe()), true);
        RunCommand.print(o, report);
        o.println("report " + new Path(out, "report.html") + " (and .json)" + (untilIndex == n - 1 ? ", final " + new Path(out, "final") : ""));
        return code;
    }

    /** {@code final}, the gate against the baseline, {@code best} when the gate fails; returns the exit code. */
    private int finish(SparkSession spark, Storage st, List<StageRecord> records, Map<String, Object> report) {
        int last = -1;
        for (int i = 0; i < records.size(); i++) if (modelOut.get(i) != null) last = i;
        if (last < 0) return Main.OK; // e.g. only soft targets or evaluations: nothing to call final
        publish(st, "final", records, last);
        Recipe.Gate g = recipe.gate();
        Map<String, Object> baseMetrics = null;
        if (baseline != null && recipe.data().eval() != null) {
            baseMetrics = baselineMetrics(spark, st);
            report.put("baseline", RunCommand.map("model", baseline, "metrics", baseMetrics));
        }
        if (g == null) return Main.OK;
        double b = value(baseMetrics, g.metric());
        double f = value(records.get(last).metrics(), g.metric());
        boolean met = g.met(b, f);
        Map<String, Object> gate = RunCommand.map("metric", g.metric().key(), "baseline_value", b, "final_value", f,
                "tolerable_loss", g.tolerableLoss(), "relative", g.relative(), "met", met);
        report.put("gate", gate);
        Path best = new Path(out, "best");
        if (met) {
            if (st.exists(best)) st.delete(best);
            return Main.OK;
        }
        RecipeFallback.Outcome fb = g.maxTrials() > 0 && !solvedAt.isEmpty() ? RecipeFallback.run(this, spark, st, records, b, report) : null;
        if (fb != null && fb.met()) {
            gate.put("met", true);
            gate.put("final_value", fb.value());
            gate.put("trial", fb.trial());
            if (st.exists(best)) st.delete(best);
            return Main.OK;
        }
        // the best candidate: the last stage after the baseline that meets the gate, else the one closest to it
        int pick = -1;
        for (int i = Math.max(0, baselineStage + 1); i < records.size(); i++) {
            if (modelOut.get(i) == null) continue;
            double v = value(records.get(i).metrics(), g.metric());
            if (g.met(b, v) || pick < 0 || !g.met(b, value(records.get(pick).metrics(), g.metric())) && better(g, v, value(records.get(pick).metrics(), g.metric())))
                pick = i;
        }
        if (pick < 0) pick = last;
        double pickValue = value(records.get(pick).metrics(), g.metric());
        if (fb != null && fb.bestTrial() > 0 && !g.met(b, pickValue) && better(g, fb.bestValue(), pickValue)) {
            RecipeFallback.publish(this, st, records, fb.bestTrial(), "best");
            gate.put("best", "trial " + fb.bestTrial());
            gate.put("best_value", fb.bestValue());
            err.println(String.format(Locale.ROOT, "run: the final model's %s %.4f misses the gate after %d trials; best candidate trial %d written to %s",
                    g.metric().key(), f, fb.trials(), fb.bestTrial(), best));
            return RunCommand.GATE_FAILED;
        }
        publish(st, "best", records, pick);
        gate.put("best", records.get(pick).stage());
        gate.put("best_value", pickValue);
        err.println(String.format(Locale.ROOT, "run: the final model's %s %.4f misses the gate (baseline %.4f, tolerable loss %s); best candidate %s written to %s",
                g.metric().key(), f, b, g.tolerableLoss(), records.get(pick).stage(), best));
        return RunCommand.GATE_FAILED;
    }

    static boolean better(Recipe.Gate g, double a, double b) {
        return g.metric().higherIsBetter() ? a > b : a < b;
    }

    static double value(Map<String, Object> metrics, Recipe.Metric m) {
        Object v = metrics == null ? null : metrics.get(m.key());
        if (!(v instanceof Number num)) throw new BadInputException("accuracy.metric " + m.key() + " was not measured (top5 needs more than 5 classes)");
        return num.doubleValue();
    }

    /** Copies stage {@code upTo}'s model to {@code OUT/name} with the lineage of the stages up to it. */
    private void publish(Storage st, String name, List<StageRecord> records, int upTo) {
        ArtifactWriter.copyWithLineage(st, modelOut.get(upTo), new Path(out, name).toString(), true, lineage(st, records, upTo));
    }

    /**
     * The stages stage {@code upTo}'s model comes from: it, the stage that made the model it read, and so on back
     * (through {@code from:} branches), the soft-targets stage a distill stage read; plus the stages that only looked
     * at one of those models (evaluate, export).
     */
    java.util.SortedSet<Integer> ancestors(int upTo) {
        java.util.SortedSet<Integer> a = new java.util.TreeSet<>(List.of(upTo));
        for (int i = upTo; i >= 0; i--) {
            if (!a.contains(i)) continue;
            for (int j = 0; j < i; j++) {
                if (modelOut.get(j) != null && modelOut.get(j).equals(modelIn.get(i)) && (recipe.stages().get(i).technique() != Technique.DISTILL
                        || "true".equals(recipe.stages().get(i).option("online")))) a.add(j);
                if (recipe.stages().get(i).technique() == Technique.DISTILL && softIn.get(i) != null && dirs.get(j).toString().equals(softIn.get(i))) a.add(j);
            }
        }
        for (int i = 0; i <= upTo; i++) {
            Technique t = recipe.stages().get(i).technique();
            if (t.makesModel() || t == Technique.SOFT_TARGETS) continue;
            for (int j : List.copyOf(a)) if (modelOut.get(j) != null && modelOut.get(j).equals(modelIn.get(i)) && j < i) a.add(i);
        }
        return a;
    }

    /** The lineage of stage {@code upTo}'s model ({@link #ancestors}): technique, command, inputs, output, metrics, time, job config. */
    List<Map<String, Object>> lineage(Storage st, List<StageRecord> records, int upTo) {
        List<Map<String, Object>> lineage = new ArrayList<>();
        for (int i : ancestors(upTo)) {
            StageRecord r = records.get(i);
            Map<String, Object> e = RunCommand.map("stage", r.stage(), "technique", r.technique(), "command", r.command(),
                    "inputs", r.inputs(), "output_sha256", r.outputSha256(), "metrics", r.metrics(), "seconds", r.seconds(), "finished", r.finished());
            if (r.allocation() != null) e.put("allocation", r.allocation());
            if (modelOut.get(i) != null) {
                var m = Json.read(st.readAll(new Path(st.path(modelOut.get(i)), ArtifactWriter.MANIFEST), "manifest"), io.squeeze.artifact.Manifest.class);
                e.put("config", m.config());
            }
            lineage.add(e);
        }
        return lineage;
    }

    /**
     * The recipe from stage {@code from} on, for a fallback trial: its model is what that stage read here, its gate
     * compares against this run's baseline and tries nothing further.
     */
    Recipe from(int from) {
        List<Recipe.Stage> stages = new ArrayList<>();
        for (Recipe.Stage s : recipe.stages().subList(from, recipe.stages().size()))
            stages.add(new Recipe.Stage(s.index() - from, s.technique(), s.options(), s.overrides(), s.auto(), s.at(), s.from() == null ? null : s.from() - from));
        Recipe.Gate g = recipe.gate();
        return new Recipe(recipe.file(), recipe.name() + "-trial", modelIn.get(from), recipe.data(),
                new Recipe.Gate(g.metric(), baseline, g.tolerableLoss(), g.relative(), 0, 0), List.copyOf(stages), recipe.recipe());
    }

    /**
     * Whether the stages from {@code from} on can run without what earlier stages made besides the model: soft
     * targets, or a model a stage reads by {@code from:} (a branch from before the trial).
     */
    boolean canStartAt(int from) {
        for (int i = from; i < recipe.stages().size(); i++) {
            if (softIn.get(i) != null && dirs.indexOf(new Path(softIn.get(i))) < from && recipe.stages().get(i).technique() == Technique.DISTILL) return false;
            Integer f = recipe.stages().get(i).from();
            if (f != null && f < from) return false;
        }
        return modelIn.get(from) != null;
    }

    Path out() {
        return out;
    }

    Recipe recipe() {
        return recipe;
    }

    PrintWriter err() {
        return err;
    }

    /** The baseline's metrics on data.eval, kept in {@code OUT/baseline.json} while the baseline and the data are unchanged. */
    private Map<String, Object> baselineMetrics(SparkSession spark, Storage st) {
        Path p = new Path(out, "baseline.json");
        String key = RunState.identity(st, baseline) + "/" + RunState.dataFingerprint(st, recipe.data().eval());
        if (st.exists(p)) {
            Map<?, ?> m = Json.read(st.readAll(p, "baseline record"), Map.class);
            if (key.equals(m.get("key"))) {
                @SuppressWarnings("unchecked")
                Map<String, Object> metrics = (Map<String, Object>) m.get("metrics");
                return metrics;
            }
        }
        Map<String, Object> metrics = evaluate(spark, st, baseline, null);
        st.replace(p, Json.bytes(RunCommand.map("key", key, "metrics", metrics)), true);
        return metrics;
    }

    Map<String, Object> evaluate(SparkSession spark, Storage st, String model, Loaded base) {
        Map<String, Object> r = EvaluateJob.run(spark, DataSpec.parse(recipe.data().eval(), Split.TEST, false), Models.loadRunnable(st, model, true), base, 256);
        Map<String, Object> m = new LinkedHashMap<>();
        for (String k : List.of("accuracy", "top5", "loss", "params", "nonzeros", "artifact_bytes", "rows_per_s"))
            if (r.containsKey(k)) m.put(k, r.get(k));
        if (r.get("baseline") instanceof Map<?, ?> b) m.put("agreement", b.get("agreement"));
        m.put("stored_bytes", st.totalBytes(st.path(model)));
        return m;
    }

    /** The model's layers (a graph's in {@code getLayers()} order): name for a layer with weights, null for one without. */
    private static List<String> layerNames(Storage st, String model) {
        var layers = Models.load(st, model, true).layers();
        List<String> names = new ArrayList<>();
        for (var l : layers) names.add(l.numParams() > 0 ? l.conf().getLayer().getLayerName() : null);
        return names;
    }
}
