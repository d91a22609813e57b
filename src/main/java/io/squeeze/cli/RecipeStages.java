package io.squeeze.cli;

import io.squeeze.cli.Recipe.Stage;
import io.squeeze.cli.RecipeYaml.Node;
import io.squeeze.core.BadInputException;
import org.apache.hadoop.fs.Path;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * A recipe stage as the command line of its command: the stage's options spelled with {@code --}, plus what the
 * recipe fills in (the input model, the output directory, the data a stage needs that the recipe's {@code data}
 * names, per-layer values from {@code overrides}). {@link #check} parses that line with the command's own picocli
 * model and validation, and reports a bad option at its place in the YAML file.
 */
final class RecipeStages {
    private RecipeStages() {}

    /** What a stage reads that earlier stages (or the recipe) produced. */
    record Inputs(String model, String softTargets, String baseline, Path dir, boolean overwrite, List<String> allocated) {}

    static CommandSpec spec(Technique t) {
        return new CommandLine(new Main()).getSubcommands().get(t.command).getCommandSpec();
    }

    /** What a stage writes in {@code dir}: its artifact (a model stage's model), soft targets, report or exported file. */
    static Path output(Stage s, Path dir) {
        return switch (s.technique().output) {
            case MODEL, SOFT_TARGETS -> dir;
            case TICKET -> new Path(dir, "ticket");
            case REPORT -> new Path(dir, "report.json");
            case FILE -> new Path(dir, Technique.exportFile(s.option("format")));
        };
    }

    /**
     * The stage's command line. {@code layers} gives the input model's layers (index → name, weightless layers
     * null) for resolving {@code overrides}; null while validating, when the value of the first override stands in.
     */
    static List<String> argv(Recipe r, Stage s, Inputs in, Function<String, List<String>> layers) {
        Technique t = s.technique();
        CommandSpec spec = spec(t);
        List<String> a = new ArrayList<>(List.of(t.command));
        Set<String> given = new HashSet<>();
        String per = s.perLayerOption();
        for (Map.Entry<String, Node> e : s.options().entrySet()) {
            String k = e.getKey(), opt = "--" + t.option(k);
            Node n = e.getValue();
            OptionSpec o = spec.findOption(opt);
            if (o == null || o.usageHelp() || o.versionHelp())
                throw new BadInputException(RecipeYaml.at(r.file(), n) + "unknown option '" + k + "' of stage " + t.key + " (options: " + options(t, spec) + ")");
            if (n.value() == null) continue; // "key: null" (or --set key=) leaves the option out: the command's default
            given.add(t.option(k));
            if (!s.overrides().isEmpty() && k.equals(per) && !per.equals("layer-precision")) continue; // resolved below
            if (n.isMap()) throw new BadInputException(RecipeYaml.at(r.file(), n) + t.key + "." + k + " takes a value, not a map");
            if (o.typeInfo().isBoolean()) {
                String v = n.scalar();
                if (!"true".equals(v) && !"false".equals(v))
                    throw new BadInputException(RecipeYaml.at(r.file(), n) + t.key + "." + k + " must be true or false, got '" + v + "'");
                if (v.equals("true")) a.add(opt);
                continue;
            }
            List<Node> values = n.isList() ? n.list() : List.of(n);
            if (n.isList() && !o.isMultiValue())
                throw new BadInputException(RecipeYaml.at(r.file(), n) + t.key + "." + k + " takes one value, not a list");
            for (Node v : values) {
                if (v.scalar() == null) throw new BadInputException(RecipeYaml.at(r.file(), v) + t.key + "." + k + " needs a value");
                a.add(opt);
                a.add(v.scalar());
            }
        }
        if (!s.overrides().isEmpty()) a.addAll(overrides(r, s, in, layers));
        if (s.auto() != null) a.addAll(in.allocated() != null ? in.allocated() : s.auto().placeholder());
        fill(r, s, in, a, given);
        return a;
    }

    /** The inputs, output and data the recipe supplies. */
    private static void fill(Recipe r, Stage s, Inputs in, List<String> a, Set<String> given) {
        Recipe.Data d = r.data();
        String dir = in.dir().toString();
        switch (s.technique()) {
            case TRAIN -> {
                add(a, given, "data", d.train());
                a.addAll(List.of("--out", dir));
            }
            case PRUNE, FACTORIZE -> {
                a.addAll(List.of("--model", in.model(), "--out", dir));
                if (s.technique() == Technique.PRUNE && s.auto() != null) {
                    // the curves were measured with l1 per tensor: the allocated amounts are l1's
                    if (given.contains("method") && !"l1".equals(s.option("method")))
                        throw new BadInputException(RecipeYaml.at(r.file(), s.options().get("method")) + "prune with an allocation from sensitivity prunes with method l1, got '" + s.option("method") + "'");
                    add(a, given, "method", "l1");
                }
                if (given.contains("fine-tune-epochs")) add(a, given, "fine-tune-data", d.train());
            }
            case FINE_TUNE -> {
                a.addAll(List.of("--model", in.model(), "--out", dir, "--method", "l1", "--amount", "0"));
                add(a, given, "fine-tune-data", d.train());
            }
            case LOTTERY -> {
                add(a, given, "data", d.train());
                add(a, given, "test-data", d.eval());
                a.addAll(List.of("--out", dir));
            }
            case LORA -> {
                a.addAll(List.of("--model", in.model(), "--out", dir));
                add(a, given, "data", d.train());
            }
            case QUANTIZE -> {
                a.addAll(List.of("--model", in.model(), "--out", dir));
                String mode = s.option("mode") == null ? "static" : s.option("mode").toLowerCase(Locale.ROOT);
                if (mode.equals("static") || mode.equals("qat")) add(a, given, "calib-data", d.calibration());
                if (mode.equals("qat")) add(a, given, "data", d.train());
            }
            case SOFT_TARGETS -> {
                a.addAll(List.of("--teacher", in.model(), "--out", dir));
                add(a, given, "data", d.train());
            }
            case DISTILL -> {
                if ("true".equals(s.option("online"))) a.addAll(List.of("--teacher", in.model()));
                else {
                    if (in.softTargets() == null)
                        throw new BadInputException(RecipeYaml.at(r.file(), s.at()) + "distill needs a soft-targets stage before it (or online: true)");
                    a.addAll(List.of("--soft-targets", in.softTargets()));
                }
                add(a, given, "data", d.train());
                a.addAll(List.of("--out", dir));
            }
            case EVALUATE -> {
                a.addAll(List.of("--model", in.model(), "--report", output(s, in.dir()).toString()));
                add(a, given, "data", d.eval());
                if (in.baseline() != null) add(a, given, "baseline", in.baseline());
            }
            case EXPORT -> a.addAll(List.of("--model", in.model(), "--out", output(s, in.dir()).toString()));
        }
        if (in.overwrite()) a.add("--overwrite");
    }

    private static void add(List<String> a, Set<String> given, String option, String value) {
        if (given.contains(option) || value == null) return;
        a.add("--" + option);
        a.add(value);
    }

    /**
     * Per-layer values: the stage's own value for every layer its {@code layers} select, then each override in turn
     * for the layers it selects (NNI's rule: a later entry wins). Quantize takes them as {@code --layer-precision},
     * where the first match wins, so the order is reversed there.
     */
    private static List<String> overrides(Recipe r, Stage s, Inputs in, Function<String, List<String>> layers) {
        String per = s.perLayerOption();
        List<String> a = new ArrayList<>();
        if (per.equals("layer-precision")) {
            for (int i = s.overrides().size() - 1; i >= 0; i--) {
                Recipe.Override o = s.overrides().get(i);
                a.add("--layer-precision");
                a.add(o.layers() + "=" + o.value());
            }
            return a;
        }
        if (layers == null) { // validating: the first override's value stands in for the resolved list
            a.add("--" + per);
            a.add(s.option(per) != null ? s.option(per) : s.overrides().get(0).value());
            return a;
        }
        List<String> names = layers.apply(in.model());
        io.squeeze.core.LayerSelector chosen = io.squeeze.core.LayerSelector.parse(s.option("layers"));
        String[] value = new String[names.size()];
        String base = s.option(per);
        if (base != null && base.contains(":"))
            throw new BadInputException(RecipeYaml.at(r.file(), s.options().get(per)) + s.technique().key + "." + per + " is per layer already; give one value with overrides");
        for (int i = 0; i < names.size(); i++) if (names.get(i) != null && chosen.matches(i, names.get(i))) value[i] = base;
        for (Recipe.Override o : s.overrides()) {
            boolean any = false;
            for (int i = 0; i < names.size(); i++)
                if (names.get(i) != null && o.layers().matches(i, names.get(i))) {
                    value[i] = o.value();
                    any = true;
                }
            if (!any) throw new BadInputException(RecipeYaml.at(r.file(), o.at()) + "overrides layers '" + o.layers() + "' match no layer with weights of " + in.model());
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < value.length; i++) if (value[i] != null) sb.append(sb.length() == 0 ? "" : ",").append(i).append(':').append(value[i]);
        a.add("--" + per);
        a.add(sb.toString());
        return a;
    }

    private static String options(Technique t, CommandSpec spec) {
        List<String> names = new ArrayList<>();
        for (OptionSpec o : spec.options()) {
            if (o.usageHelp() || o.versionHelp()) continue;
            String n = o.longestName().replaceFirst("^--", "");
            if (t.reserved().contains(n)) continue;
            names.add(n);
        }
        if (t == Technique.FINE_TUNE) names.replaceAll(n -> n.replaceFirst("^fine-tune-", ""));
        return String.join(", ", names);
    }

    /**
     * Parses the stage's command line with its command's picocli model and runs the command's own validation;
     * a failure names the YAML place of the option it is about (else the stage's).
     */
    static void check(Recipe r, Stage s, List<String> argv) {
        CommandLine cl = new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true).setExpandAtFiles(false);
        try {
            CommandLine.ParseResult pr = cl.parseArgs(argv.toArray(String[]::new));
            Object cmd = pr.subcommand().commandSpec().userObject();
            if (cmd instanceof StageCommand c) c.check();
        } catch (CommandLine.ParameterException | BadInputException e) {
            throw new BadInputException(RecipeYaml.at(r.file(), place(s, e.getMessage())) + "stage " + s.dir() + ": " + e.getMessage().strip());
        }
    }

    /** The option node a message names ({@code --amount}, {@code prune.amount}, {@code 'amount'}), or the stage. */
    private static Node place(Stage s, String message) {
        for (Map.Entry<String, Node> e : s.options().entrySet()) {
            String opt = s.technique().option(e.getKey());
            if (message.contains("--" + opt) || message.contains("." + opt + " ") || message.contains("'" + opt + "'")) return e.getValue();
        }
        return s.at();
    }
}
