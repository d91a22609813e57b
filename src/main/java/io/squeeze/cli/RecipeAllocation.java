package io.squeeze.cli;

import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.cli.RecipeYaml.Node;
import io.squeeze.core.BadInputException;
import io.squeeze.core.LayerSelector;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Split;
import io.squeeze.model.Json;
import io.squeeze.search.Allocation;
import io.squeeze.search.Probe;
import io.squeeze.search.Sensitivity;
import io.squeeze.spark.Execution;
import io.squeeze.spark.SensitivityJob;
import io.squeeze.spark.SparkSessions;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Auto-compression inside a recipe: a stage that states a budget instead of per-layer settings gets them from
 * per-layer sensitivity curves ({@code squeeze sensitivity}, measured on the recipe's calibration data, or a saved
 * file) and {@link Allocation}'s least-damage solution under the budget:
 * <ul>
 *   <li>{@code prune: {target: 0.95, allocation: sensitivity}} — overall sparsity of the chosen layers' weights;</li>
 *   <li>{@code quantize: {choices: [4, 8, fp16, fp32], effective_bits: 5}} — average bits per weight (ModelOpt's
 *       {@code auto_quantize} budget), each layer one of the choices;</li>
 *   <li>{@code factorize: {params-budget: 0.25, allocation: sensitivity}} — parameters kept, a rank per layer.</li>
 * </ul>
 * Optional: {@code sensitivity: PATH} (a saved file for the same model), {@code levels: [...]}, {@code damage: loss|accuracy}.
 */
final class RecipeAllocation {
    private RecipeAllocation() {}

    /** The budget a stage states, taken out of its options (they are not its command's). */
    record Spec(String technique, double budget, List<Double> levels, String sensitivity, Allocation.Damage damage, Node at) {
        static final List<String> KEYS = List.of("target", "allocation", "sensitivity", "levels", "damage", "choices", "effective_bits");

        static Spec take(String file, Technique t, Map<String, Node> options) {
            boolean any = KEYS.stream().anyMatch(options::containsKey);
            if (!any) return null;
            Node at = KEYS.stream().map(options::get).filter(java.util.Objects::nonNull).findFirst().orElseThrow();
            String alloc = scalar(file, options.remove("allocation"), "allocation");
            if (alloc != null && !alloc.equals("sensitivity"))
                throw new BadInputException(RecipeYaml.at(file, at) + t.key + ".allocation must be sensitivity, got '" + alloc + "'");
            String sens = scalar(file, options.remove("sensitivity"), "sensitivity");
            String dmg = scalar(file, options.remove("damage"), "damage");
            Allocation.Damage damage;
            try {
                damage = dmg == null ? Allocation.Damage.LOSS : Allocation.Damage.valueOf(dmg.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new BadInputException(RecipeYaml.at(file, at) + t.key + ".damage must be loss or accuracy, got '" + dmg + "'");
            }
            Node levelsNode = options.remove("levels"), choices = options.remove("choices");
            String target = scalar(file, options.remove("target"), "target"), bits = scalar(file, options.remove("effective_bits"), "effective_bits");
            List<Double> levels = levelsNode == null ? List.of() : numbers(file, levelsNode, t.key + ".levels");
            return switch (t) {
                case PRUNE -> {
                    double b = number(file, at, target, t.key + ".target");
                    if (!(b > 0 && b < 1)) throw new BadInputException(RecipeYaml.at(file, at) + "prune.target must be in (0,1), got " + target);
                    yield new Spec("prune", b, levels, sens, damage, at);
                }
                case QUANTIZE -> {
                    if (choices == null || bits == null) throw new BadInputException(RecipeYaml.at(file, at) + "quantize needs choices and effective_bits for a mixed-precision allocation");
                    if (levelsNode != null) throw new BadInputException(RecipeYaml.at(file, levelsNode) + "quantize takes choices, not levels");
                    List<Double> ls = new ArrayList<>();
                    if (!choices.isList()) throw new BadInputException(RecipeYaml.at(file, choices) + "quantize.choices must be a list of 4, 8, fp16, fp32");
                    for (Node c : choices.list()) {
                        String v = c.scalar() == null ? "" : c.scalar().toLowerCase(Locale.ROOT);
                        switch (v) {
                            case "4", "8" -> ls.add(Double.parseDouble(v));
                            case "fp16", "16" -> ls.add(16.0);
                            case "fp32", "32" -> { } // "none": every layer may stay fp32
                            default -> throw new BadInputException(RecipeYaml.at(file, c) + "quantize.choices must be 4, 8, fp16 or fp32, got '" + c.scalar() + "'");
                        }
                    }
                    double b = number(file, at, bits, "quantize.effective_bits");
                    if (!(b >= 4 && b < 32)) throw new BadInputException(RecipeYaml.at(file, at) + "quantize.effective_bits must be in [4, 32), got " + bits);
                    double fewest = ls.stream().mapToDouble(Double::doubleValue).min().orElse(32);
                    if (b < fewest)
                        throw new BadInputException(RecipeYaml.at(file, at) + "quantize.effective_bits " + bits + " cannot be reached: the fewest bits among the choices are "
                                + (fewest == 16 ? "fp16's 16" : Allocation.fmt(fewest)) + ", so every allocation averages at least that");
                    yield new Spec("quantize", b, ls, sens, damage, at);
                }
                case FACTORIZE -> {
                    String budget = scalar(file, options.remove("params-budget"), "params-budget");
                    double b = number(file, at, budget, "factorize.params-budget");
                    if (!(b > 0 && b < 1)) throw new BadInputException(RecipeYaml.at(file, at) + "factorize.params-budget must be a fraction in (0,1) with allocation: sensitivity, got " + budget);
                    yield new Spec("factorize", b, levels, sens, damage, at);
                }
                default -> throw new BadInputException(RecipeYaml.at(file, at) + t.key + " has no budget allocation (prune, quantize, factorize do)");
            };
        }

        private static String scalar(String file, Node n, String key) {
            if (n == null) return null;
            if (n.scalar() == null) throw new BadInputException(RecipeYaml.at(file, n) + key + " must be a single value");
            return n.scalar();
        }

        private static double number(String file, Node at, String v, String key) {
            if (v == null) throw new BadInputException(RecipeYaml.at(file, at) + key + " must be given");
            try {
                return Double.parseDouble(v);
            } catch (NumberFormatException e) {
                throw new BadInputException(RecipeYaml.at(file, at) + key + " must be a number, got '" + v + "'");
            }
        }

        private static List<Double> numbers(String file, Node n, String key) {
            if (!n.isList()) throw new BadInputException(RecipeYaml.at(file, n) + key + " must be a list of numbers");
            List<Double> out = new ArrayList<>();
            for (Node e : n.list()) out.add(number(file, e, e.scalar(), key));
            return out;
        }

        Probe probe() {
            return Probe.of(technique);
        }

        /** The per-layer option the solution fills in. */
        String option() {
            return switch (technique) {
                case "prune" -> "amount";
                case "quantize" -> "layer-precision";
                default -> "rank";
            };
        }

        /** A value the command accepts in place of the solution, for checking the rest of the stage before any work. */
        List<String> placeholder() {
            return switch (technique) {
                case "prune" -> List.of("--amount", Double.toString(budget));
                case "quantize" -> List.of();
                default -> List.of("--params-budget", Double.toString(budget));
            };
        }
    }

    /** A solved allocation: the command-line values and what the report shows. */
    record Solved(List<String> argv, Map<String, Object> record, Sensitivity sensitivity, Spec spec, Map<Integer, Double> levels,
                  Map<Integer, long[]> shapes, Map<Integer, String> names) {
        /** The measured damage of {@code layer} at its chosen level. */
        private double damage(int layer) {
            return spec.damage().of(sensitivity.baseline(), sensitivity.layer(layer).at(levels.get(layer)));
        }

        /** The compressed layer whose chosen level does the most measured damage (the first of equals); -1 when none is compressed. */
        private int worstLayer() {
            int worst = -1;
            for (Map.Entry<Integer, Double> e : levels.entrySet())
                if (e.getValue() != null && (worst < 0 || damage(e.getKey()) > damage(worst))) worst = e.getKey();
            return worst;
        }

        /** The largest measured damage of one layer at its chosen level (-1 when no layer is compressed). */
        double worstDamage() {
            int worst = worstLayer();
            return worst < 0 ? -1 : damage(worst);
        }

        /** The most damaging layer's level, one step less compressed; null when no layer is compressed any more. */
        Solved relaxed() {
            int worst = worstLayer();
            if (worst < 0) return null;
            Sensitivity.LayerCurve c = sensitivity.layer(worst);
            double saved = c.at(levels.get(worst)).bitsSaved();
            Double next = null;
            double best = -1;
            for (Sensitivity.Point p : c.curve())
                if (p.bitsSaved() < saved && p.bitsSaved() > best) {
                    best = p.bitsSaved();
                    next = p.level();
                }
            Map<Integer, Double> l = new LinkedHashMap<>(levels);
            l.put(worst, next);
            Map<String, Object> base0 = new LinkedHashMap<>(record);
            base0.put("relaxed", RunCommand.map("layer", worst, "from", levels.get(worst), "to", next));
            return build(spec, sensitivity, l, shapes, names, base0, spec.technique() + " relaxed");
        }
    }

    /** The float model an allocation measures; a quantized one is refused ({@code at}: where in the recipe, or empty). */
    private static io.squeeze.model.LoadedModel floatModel(Storage st, Spec spec, String model, String at) {
        Loaded loaded = Models.loadRunnable(st, model, true);
        if (loaded.quant() != null) throw new BadInputException(at + model + " is quantized; a " + spec.technique() + " allocation needs a float model");
        return loaded.model();
    }

    /**
     * Before any Spark work, for a stage that reads a model already there (the recipe's {@code model}): a quantized
     * model is refused, and a prune target that the largest measured level of every layer cannot reach is refused
     * with the figures {@link Allocation#solve} would give after measuring.
     */
    static void checkBefore(Storage st, String file, Spec spec, String model) {
        var m = floatModel(st, spec, model, RecipeYaml.at(file, spec.at()));
        if (!spec.technique().equals("prune") || spec.sensitivity() != null) return;
        double max = new SensitivityJob.Config(spec.probe(), spec.levels(), LayerSelector.ALL, 256).levels().stream().mapToDouble(Double::doubleValue).max().orElse(0);
        long weights = 0, pruned = 0;
        double reachable = 0;
        for (var u : SensitivityJob.weights(m, LayerSelector.ALL)) {
            weights += u.entries();
            for (var w : u.tensors()) pruned += w.entries() - w.mask().keptCount();
            reachable += spec.probe().bitsSaved(u, max) / 32; // what the allocation counts
        }
        double required = spec.budget() * weights - pruned;
        if (reachable + 1e-9 < required)
            throw new BadInputException(RecipeYaml.at(file, spec.at()) + String.format(Locale.ROOT, "prune.target %s (%d of %d weights pruned) cannot be reached: "
                    + "the largest level, %s of each layer's remaining weights, prunes %s; %s needed; measure larger levels", spec.budget(),
                    Math.round(spec.budget() * weights), weights, Double.toString(max), Allocation.fmt(reachable), Allocation.fmt(Math.ceil(required - 1e-9))));
    }

    /**
     * The sensitivity of {@code model} (reused from {@code cache} when measured on the same model, data and levels,
     * or read from the spec's file), then the least-damage levels under the budget.
     */
    static Solved solve(SparkSession spark, Storage st, Spec spec, String model, String data, Path cache, PrintWriter err) {
        var m = floatModel(st, spec, model, "");
        Sensitivity s;
        if (spec.sensitivity() != null) {
            s = Json.read(st.readAll(st.path(spec.sensitivity()), "sensitivity file"), Sensitivity.class);
            if (!s.technique().equals(spec.technique()) || !java.util.Objects.equals(s.modelSha256(), m.sha256()))
                throw new BadInputException("sensitivity file " + spec.sensitivity() + " holds " + s.technique() + " curves of a model with sha256 " + s.modelSha256()
                        + "; this stage " + spec.technique() + "s " + model + " (sha256 " + m.sha256() + ")");
        } else {
            if (data == null) throw new BadInputException(spec.technique() + " allocation needs data.calibration or data.train to measure sensitivity on");
            var cfg = new SensitivityJob.Config(spec.probe(), spec.levels(), LayerSelector.ALL, 256);
            String key = Storage.sha256(Json.compact(List.of(m.sha256(), RunState.dataFingerprint(st, data), data, spec.technique(), cfg.levels())));
            Path json = new Path(cache.getParent(), cache.getName() + ".sensitivity.json"), keyFile = new Path(cache.getParent(), cache.getName() + ".sensitivity.key");
            if (st.exists(json) && st.exists(keyFile) && key.equals(new String(st.readAll(keyFile, "key"), java.nio.charset.StandardCharsets.US_ASCII))) {
                s = Json.read(st.readAll(json, "sensitivity"), Sensitivity.class);
                err.println("run: sensitivity of " + model + " unchanged, reused " + json);
            } else {
                s = SensitivityJob.run(spark, new Execution.OnSpark(SparkSessions.jsc(spark)), DataSpec.parse(data, Split.TRAIN, false), m, cfg, err);
                st.replace(json, Json.bytes(s), true);
                st.replace(new Path(cache.getParent(), cache.getName() + ".sensitivity.png"), Charts.sensitivity(s), true);
                st.replace(keyFile, key.getBytes(java.nio.charset.StandardCharsets.US_ASCII), true);
            }
        }
        long weights = 0, pruned = 0;
        for (Sensitivity.LayerCurve l : s.layers()) {
            weights += l.params();
            var mask = m.masks().get(io.squeeze.core.TensorKey.weights(l.index()));
            if (mask != null) pruned += mask.prunedCount();
        }
        double required;
        String budget;
        java.util.function.ToDoubleFunction<Sensitivity.Point> saving;
        switch (spec.technique()) {
            case "prune" -> {
                required = spec.budget() * weights - pruned;
                budget = String.format(Locale.ROOT, "prune.target %s (%d of %d weights pruned)", spec.budget(), Math.round(spec.budget() * weights), weights);
                saving = p -> p.bitsSaved() / 32;
            }
            case "quantize" -> {
                required = (32 - spec.budget()) * weights;
                budget = "quantize.effective_bits " + spec.budget();
                saving = Sensitivity.Point::bitsSaved;
            }
            default -> {
                required = (1 - spec.budget()) * weights;
                budget = "factorize.params-budget " + spec.budget();
                saving = p -> p.bitsSaved() / 32;
            }
        }
        Allocation.Result r = Allocation.solve(Allocation.choices(s, spec.damage(), saving), required, budget);
        Map<Integer, Double> levels = new LinkedHashMap<>();
        Map<Integer, long[]> shapes = new LinkedHashMap<>();
        Map<Integer, String> names = m.isGraph() ? new LinkedHashMap<>() : null; // a graph's layers are given by vertex name
        for (int i = 0; i < r.layers().size(); i++) {
            int layer = r.layers().get(i);
            levels.put(layer, r.levels().get(i));
            shapes.put(layer, m.layers()[layer].paramTable().get("W").shape());
            if (names != null) names.put(layer, m.layers()[layer].conf().getLayer().getLayerName());
        }
        Map<String, Object> rec = RunCommand.map("technique", spec.technique(), "budget", spec.budget(), "damage", spec.damage().name().toLowerCase(Locale.ROOT),
                "predicted_damage", r.predictedDamage(), "saving", r.saving(), "required", required,
                "sensitivity", spec.sensitivity() != null ? spec.sensitivity() : new Path(cache.getParent(), cache.getName() + ".sensitivity.json").toString());
        Solved solved = build(spec, s, levels, shapes, names, rec, budget);
        err.println("run: " + budget + " allocated from sensitivity: " + solved.record().get("levels") + String.format(Locale.ROOT, " (predicted %s %.4g)",
                spec.damage() == Allocation.Damage.LOSS ? "loss increase" : "accuracy drop", r.predictedDamage()));
        return solved;
    }

    /**
     * The command-line values and record of per-layer {@code levels} (null: the layer stays as it is); layers are
     * given to the command by index, or by {@code names} (a graph's vertices: its commands number nodes otherwise).
     */
    static Solved build(Spec spec, Sensitivity s, Map<Integer, Double> levels, Map<Integer, long[]> shapes, Map<Integer, String> names,
                        Map<String, Object> base, String budget) {
        List<String> argv = new ArrayList<>();
        StringBuilder per = new StringBuilder();
        Map<String, Object> layers = new LinkedHashMap<>();
        for (Map.Entry<Integer, Double> e : levels.entrySet()) {
            int layer = e.getKey();
            Double level = e.getValue();
            String v = switch (spec.technique()) {
                case "prune" -> level == null ? "0" : SensitivityCommand.trim(level);
                case "quantize" -> level == null ? "fp32" : level == 16 ? "fp16" : SensitivityCommand.trim(level);
                default -> level == null ? null : Integer.toString(io.squeeze.search.Probe.Factorize.rank(shapes.get(layer), level));
            };
            layers.put(Integer.toString(layer), v == null ? "unchanged" : v);
            if (v == null) continue;
            String at = names == null ? Integer.toString(layer) : names.get(layer);
            if (spec.technique().equals("quantize")) argv.addAll(List.of("--layer-precision", at + "=" + v));
            else per.append(per.length() == 0 ? "" : ",").append(at).append(':').append(v);
        }
        if (!spec.technique().equals("quantize")) {
            if (per.length() == 0) throw new BadInputException(budget + " is met without compressing any layer");
            argv.addAll(List.of("--" + spec.option(), per.toString()));
        }
        Map<String, Object> rec = new LinkedHashMap<>(base);
        rec.put("levels", layers);
        return new Solved(argv, rec, s, spec, levels, shapes, names);
    }

}
