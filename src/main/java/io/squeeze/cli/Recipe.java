package io.squeeze.cli;

import io.squeeze.cli.RecipeYaml.Node;
import io.squeeze.core.BadInputException;
import io.squeeze.core.LayerSelector;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A recipe for {@code squeeze run}, validated: a source model, data, an ordered list of stages (each a technique with
 * exactly its command's options) and an optional accuracy gate. The shape follows llm-compressor's ordered stages
 * and NNI's {@code config_list} (per-layer {@code overrides} by index, range or name glob; a later entry overrides
 * an earlier one for the same layer). Every structural error names the file, line and column.
 *
 * <pre>
 * name: lenet-300-100-deep-compression       # default: the file's name
 * vars: {mnist: idx:data/mnist}               # ${mnist} anywhere below
 * model: out/mnist/dense                      # the source (may be omitted when the first stage trains)
 * data: {train: ${mnist}, calibration: ${mnist}, eval: ${mnist}}
 * accuracy: {metric: accuracy, baseline: source, tolerable_loss: 0.001, relative: false}
 * stages:
 *   - prune: {method: l1, amount: 0.9, fine-tune-epochs: 2, overrides: [{layers: "2", amount: 0.7}]}
 *   - quantize: {mode: codebook, bits: 4}
 * </pre>
 */
record Recipe(String file, String name, String model, Data data, Gate gate, List<Stage> stages, Object recipe) {

    static final Set<String> KEYS = Set.of("name", "vars", "model", "data", "accuracy", "stages", "out");

    /** Data URIs by role; calibration defaults to train. */
    record Data(String train, String calibration, String eval) {}

    /** The metric a gate compares. */
    enum Metric {
        ACCURACY, TOP5, LOSS;

        boolean higherIsBetter() {
            return this != LOSS;
        }

        String key() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * The accuracy criterion (Intel Neural Compressor's {@code tolerable_loss}): the final model's metric may be worse
     * than the baseline's by at most {@code tolerableLoss} (absolute, or a fraction of the baseline when relative).
     *
     * @param baseline       null: the source model (or the first trained stage's output); else a model path
     * @param maxTrials      fallback trials when the gate is missed (stages with budgets from sensitivity relaxed)
     * @param timeoutSeconds no new trial after this many seconds of trials (0: no limit)
     */
    record Gate(Metric metric, String baseline, double tolerableLoss, boolean relative, int maxTrials, double timeoutSeconds) {
        Gate {
            if (!(tolerableLoss >= 0) || Double.isInfinite(tolerableLoss))
                throw new BadInputException("accuracy.tolerable_loss must be >= 0, got " + tolerableLoss);
            if (maxTrials < 0) throw new BadInputException("accuracy.max_trials must be >= 0, got " + maxTrials);
            if (!(timeoutSeconds >= 0)) throw new BadInputException("accuracy.timeout must be >= 0 seconds (0: none), got " + timeoutSeconds);
        }

        /** Whether {@code value} meets the gate against {@code base}. */
        boolean met(double base, double value) {
            double loss = metric.higherIsBetter() ? base - value : value - base;
            if (relative) loss /= Math.abs(base);
            return loss <= tolerableLoss + 1e-12;
        }
    }

    /** A per-layer override: the layers it selects and its value of the technique's per-layer option. */
    record Override(LayerSelector layers, String value, Node at) {}

    /** One stage; {@code index} counts from 0, its directory from 01. */
    /**
     * A stage. {@code from}: the stage whose model it reads instead of the latest one (its index; -1 = the recipe's
     * {@code model}; null = the latest model, the usual chain), so one recipe can branch from an earlier model.
     */
    record Stage(int index, Technique technique, Map<String, Node> options, List<Override> overrides, RecipeAllocation.Spec auto, Node at,
                 Integer from) {
        String dir() {
            return String.format(Locale.ROOT, "%02d-%s", index + 1, technique.key);
        }

        /** Whether {@code spec} names this stage: its directory (NN-name), NN, its number, or its technique. */
        boolean named(String spec) {
            return spec.equals(dir()) || spec.equals(dir().substring(0, 2)) || spec.equals(Integer.toString(index + 1)) || spec.equals(technique.key);
        }

        String option(String key) {
            Node n = options.get(key);
            return n == null ? null : n.scalar();
        }

        /** The option the overrides set per layer, and its value for all layers (null: only the overridden ones). */
        String perLayerOption() {
            return switch (technique) {
                case PRUNE -> "amount";
                case FACTORIZE -> options.containsKey("energy") ? "energy" : "rank";
                case QUANTIZE -> "layer-precision";
                default -> null;
            };
        }
    }

    static Recipe parse(String file, String text, List<String> sets) {
        Node root = RecipeYaml.parse(file, text);
        for (String s : sets) root = RecipeYaml.set(file, root, s);
        if (!root.isMap()) throw new BadInputException(RecipeYaml.at(file, root) + "a recipe is a map (name, model, data, stages, ...)");
        Map<String, Node> top = root.map();
        for (Map.Entry<String, Node> e : top.entrySet())
            if (!KEYS.contains(e.getKey()))
                throw new BadInputException(RecipeYaml.at(file, e.getValue()) + "unknown key '" + e.getKey() + "' (a recipe has " + String.join(", ", KEYS.stream().sorted().toList()) + ")");
        Map<String, String> vars = new LinkedHashMap<>();
        Node v = top.get("vars");
        if (v != null) {
            if (!v.isMap()) throw new BadInputException(RecipeYaml.at(file, v) + "vars must be a map of names to values");
            v.map().forEach((k, n) -> {
                if (n.scalar() == null) throw new BadInputException(RecipeYaml.at(file, n) + "vars." + k + " must be a single value");
                vars.put(k, n.scalar());
            });
        }
        root = RecipeYaml.substitute(file, root, vars);
        top = root.map();
        String base = new org.apache.hadoop.fs.Path(file).getName().replaceAll("\\.ya?ml$", "");
        String name = scalar(file, top, "name", base);
        if (!name.matches("[A-Za-z0-9._-]+")) throw new BadInputException(RecipeYaml.at(file, top.get("name")) + "name may hold letters, digits, '.', '_' and '-', got '" + name + "'");
        String model = scalar(file, top, "model", null);
        Data data = data(file, top.get("data"));
        Gate gate = gate(file, top.get("accuracy"));
        Node st = top.get("stages");
        if (st == null || !st.isList() || st.list().isEmpty())
            throw new BadInputException((st == null ? file + ": " : RecipeYaml.at(file, st)) + "stages must be a non-empty list (" + Technique.names() + ")");
        List<Stage> stages = new ArrayList<>();
        for (Node s : st.list()) stages.add(stage(file, stages.size(), s, stages));
        // a compressing stage reads a quantized model's dequantized weights and writes floats: the quantization is lost
        Stage quantized = null;
        Map<Integer, Stage> quantizedAfter = new java.util.HashMap<>(); // by stage: the quantize stage its model came from
        for (Stage s : stages) {
            Technique t = s.technique();
            if (s.from() != null) quantized = s.from() < 0 ? null : quantizedAfter.get(s.from());
            if (s.from() != null && s.from() < 0 && model == null)
                throw new BadInputException(RecipeYaml.at(file, s.at()) + t.key + ".from: source needs the recipe's model");
            if (quantized != null && (t == Technique.PRUNE || t == Technique.FINE_TUNE || t == Technique.FACTORIZE || t == Technique.LORA || t == Technique.QUANTIZE))
                throw new BadInputException(RecipeYaml.at(file, s.at()) + "stage " + s.dir() + " would undo the quantization of stage " + quantized.dir()
                        + " (it reads the dequantized weights and writes floats); quantize last");
            if (t == Technique.QUANTIZE) quantized = s;
            if (t.makesModel() && t != Technique.QUANTIZE) quantized = null;
            if (t.makesModel()) quantizedAfter.put(s.index(), quantized);
        }
        if (model == null && !(stages.get(0).technique() == Technique.TRAIN || stages.get(0).technique() == Technique.LOTTERY))
            throw new BadInputException(file + ": model must be given unless the first stage trains one (train or lottery)");
        if (gate != null && data.eval() == null) throw new BadInputException(RecipeYaml.at(file, top.get("accuracy")) + "accuracy needs data.eval, the data the gate evaluates on");
        return new Recipe(file, name, model, data, gate, List.copyOf(stages), root.plain());
    }

    private static String scalar(String file, Map<String, Node> m, String key, String dflt) {
        Node n = m.get(key);
        if (n == null || n.value() == null) return dflt;
        if (n.scalar() == null) throw new BadInputException(RecipeYaml.at(file, n) + key + " must be a single value");
        return n.scalar();
    }

    private static Data data(String file, Node n) {
        if (n == null) return new Data(null, null, null);
        if (!n.isMap()) throw new BadInputException(RecipeYaml.at(file, n) + "data must be a map: train, calibration, eval");
        for (Map.Entry<String, Node> e : n.map().entrySet())
            if (!Set.of("train", "calibration", "eval").contains(e.getKey()))
                throw new BadInputException(RecipeYaml.at(file, e.getValue()) + "unknown key 'data." + e.getKey() + "' (data has train, calibration, eval)");
        String train = scalar(file, n.map(), "train", null);
        return new Data(train, scalar(file, n.map(), "calibration", train), scalar(file, n.map(), "eval", null));
    }

    private static Gate gate(String file, Node n) {
        if (n == null) return null;
        if (!n.isMap()) throw new BadInputException(RecipeYaml.at(file, n) + "accuracy must be a map: metric, baseline, tolerable_loss, relative");
        Map<String, Node> m = n.map();
        for (Map.Entry<String, Node> e : m.entrySet())
            if (!Set.of("metric", "baseline", "tolerable_loss", "relative", "max_trials", "timeout").contains(e.getKey()))
                throw new BadInputException(RecipeYaml.at(file, e.getValue()) + "unknown key 'accuracy." + e.getKey()
                        + "' (accuracy has metric, baseline, tolerable_loss, relative, max_trials, timeout)");
        String metric = scalar(file, m, "metric", "accuracy");
        Metric mt;
        try {
            mt = Metric.valueOf(metric.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new BadInputException(RecipeYaml.at(file, m.get("metric")) + "accuracy.metric must be accuracy, top5 or loss, got '" + metric + "'");
        }
        String tol = scalar(file, m, "tolerable_loss", null);
        if (tol == null) throw new BadInputException(RecipeYaml.at(file, n) + "accuracy.tolerable_loss must be given");
        String rel = scalar(file, m, "relative", "false");
        if (!rel.equals("true") && !rel.equals("false"))
            throw new BadInputException(RecipeYaml.at(file, m.get("relative")) + "accuracy.relative must be true or false, got '" + rel + "'");
        String baseline = scalar(file, m, "baseline", "source");
        try {
            return new Gate(mt, baseline.equals("source") ? null : baseline, Double.parseDouble(tol), Boolean.parseBoolean(rel),
                    Integer.parseInt(scalar(file, m, "max_trials", "3")), Double.parseDouble(scalar(file, m, "timeout", "0")));
        } catch (NumberFormatException e) {
            throw new BadInputException(RecipeYaml.at(file, n) + "accuracy.tolerable_loss, max_trials and timeout must be numbers (" + e.getMessage() + ")");
        } catch (BadInputException e) {
            throw new BadInputException(RecipeYaml.at(file, m.get("tolerable_loss")) + e.getMessage());
        }
    }

    /** {@code from: NN | NN-name | technique | source}: an earlier stage that makes a model, or the recipe's model (-1). */
    private static Integer from(String file, Technique t, Node n, List<Stage> earlier) {
        if (n == null || n.value() == null) return null;
        String v = n.scalar();
        if (v == null) throw new BadInputException(RecipeYaml.at(file, n) + t.key + ".from must name one earlier stage or source");
        if (t == Technique.TRAIN || t == Technique.LOTTERY || t == Technique.DISTILL)
            throw new BadInputException(RecipeYaml.at(file, n) + t.key + " reads no model (from applies to stages that read one), got from: " + v);
        if (v.equals("source")) return -1;
        List<Stage> hits = new ArrayList<>();
        for (Stage e : earlier)
            if (e.named(v)) hits.add(e);
        if (hits.size() != 1 || !hits.get(0).technique().makesModel())
            throw new BadInputException(RecipeYaml.at(file, n) + t.key + ".from must name one earlier stage that makes a model, or source ("
                    + String.join(", ", earlier.stream().filter(e -> e.technique().makesModel()).map(Stage::dir).toList()) + "), got '" + v + "'");
        return hits.get(0).index();
    }

    private static Stage stage(String file, int index, Node s, List<Stage> earlier) {
        if (!s.isMap() || s.map().size() != 1)
            throw new BadInputException(RecipeYaml.at(file, s) + "a stage is one technique with its options, e.g. '- prune: {method: l1, amount: 0.5}' (" + Technique.names() + ")");
        Map.Entry<String, Node> e = s.map().entrySet().iterator().next();
        Technique t = Technique.of(e.getKey());
        if (t == null) throw new BadInputException(RecipeYaml.at(file, s) + "unknown stage '" + e.getKey() + "' (stages: " + Technique.names() + ")");
        Node o = e.getValue();
        Map<String, Node> options = new LinkedHashMap<>();
        if (o.value() != null) {
            if (!o.isMap()) throw new BadInputException(RecipeYaml.at(file, o) + t.key + " takes a map of its options");
            options.putAll(o.map());
        }
        Integer from = from(file, t, options.remove("from"), earlier);
        for (Map.Entry<String, Node> opt : options.entrySet())
            if (t.reserved().contains(opt.getKey()))
                throw new BadInputException(RecipeYaml.at(file, opt.getValue()) + t.key + "." + opt.getKey() + " is set by the recipe, not by a stage");
        RecipeAllocation.Spec auto = RecipeAllocation.Spec.take(file, t, options);
        Stage probe = new Stage(index, t, options, List.of(), auto, s, null);
        List<Override> overrides = new ArrayList<>();
        Node ov = options.remove("overrides");
        if (ov != null) {
            String per = probe.perLayerOption();
            if (per == null) throw new BadInputException(RecipeYaml.at(file, ov) + t.key + " has no per-layer option to override (overrides apply to prune, factorize, quantize)");
            if (!ov.isList()) throw new BadInputException(RecipeYaml.at(file, ov) + t.key + ".overrides must be a list of {layers: ..., " + key(per) + ": ...}");
            for (Node entry : ov.list()) {
                if (!entry.isMap() || entry.map().size() != 2 || !entry.map().containsKey("layers") || !entry.map().containsKey(key(per))
                        || entry.map().get("layers").scalar() == null || entry.map().get(key(per)).scalar() == null)
                    throw new BadInputException(RecipeYaml.at(file, entry) + t.key + ".overrides entries are {layers: SELECTOR, " + key(per) + ": VALUE}");
                overrides.add(new Override(LayerSelector.parse(entry.map().get("layers").scalar()), entry.map().get(key(per)).scalar(), entry));
            }
        }
        if (auto != null && !overrides.isEmpty())
            throw new BadInputException(RecipeYaml.at(file, s) + t.key + ": give overrides or an allocation from sensitivity, not both");
        return new Stage(index, t, java.util.Collections.unmodifiableMap(options), List.copyOf(overrides), auto, s, from);
    }

    /** The recipe's name of a per-layer option inside an override ({@code precision} for quantize's {@code layer-precision}). */
    static String key(String perLayerOption) {
        return perLayerOption.equals("layer-precision") ? "precision" : perLayerOption;
    }
}
