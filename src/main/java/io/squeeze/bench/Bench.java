package io.squeeze.bench;

import io.squeeze.core.BadInputException;
import io.squeeze.model.Json;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.sql.SparkSession;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code jobs/bench [NAME...] [--json FILE]}: runs named benchmarks, each measuring Squeeze against a baseline
 * side by side in the same run, prints a table and optionally writes a JSON list of
 * {@code {name, value, unit, baseline, ratio}}.
 */
public final class Bench {
    /** One measured figure against its baseline (ratio = value / baseline, higher is better for rates). */
    public record Result(String name, double value, String unit, double baseline, double ratio, String note) {}

    /** A benchmark: side-by-side measurements in one run. */
    public interface Benchmark {
        List<Result> run(SparkSession spark, PrintStream progress) throws Exception;
    }

    /** A benchmark under the name {@code jobs/bench} takes. */
    record Named(String name, String description, Benchmark bench) {}

    static List<Named> all() {
        return List.of(
                new Named("codebook", "weight sharing: k-means vs a plain Lloyd; distributed Lloyd local[1] vs local[2]; Huffman vs DEFLATE; codebook vs dense inference", new CodebookBench()),
                new Named("deploy", "inference rows/s of fp32, int8 and 90 % sparse forms in DenseRuntime, ONNX Runtime, the integer path and PyTorch", new DeployBench()),
                new Named("evaluate", "distributed evaluation rows/s vs the same inference in-process", new EvaluateBench()),
                new Named("factorize", "exact/randomized SVD vs PyTorch; factorized vs original inference against the FLOP ratio", new FactorizeBench()),
                new Named("graph", "a ResNet and its half-channel pruned twin: DL4J and ONNX Runtime rows/s against the multiply-add ratio", new GraphBench()),
                new Named("prune", "mask for 10M weights: radix select vs sort; distributed prune local[1] vs local[2]", new PruneBench()),
                new Named("quantize", "calibration pass vs inference pass; quantize kernel vs PyTorch; integer vs float inference", new QuantizeBench()),
                new Named("sensitivity", "per-layer sensitivity of LeNet-300-100 on local[2] vs local[1] vs trials one after another in process; a resumed recipe run", new SensitivityBench()),
                new Named("soft-targets", "soft-target rows/s vs in-process inference; local[1] vs local[2]; memory for 120k vs 1M rows", new SoftTargetsBench()),
                new Named("train", "training rows/s on local[2] vs an in-process fit() loop and PyTorch; local[1] vs local[2] beside two one-thread loops vs one; LeNet-300-100 and LeNet-5", new TrainBench()));
    }

    private Bench() {}

    public static void main(String[] args) throws Exception {
        List<String> names = new ArrayList<>();
        String json = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--json") && i + 1 < args.length) json = args[++i];
            else if (args[i].equals("--list") || args[i].equals("--help")) {
                System.out.println("usage: jobs/bench [NAME...] [--json FILE]");
                for (Named b : all()) System.out.printf("  %-12s %s%n", b.name(), b.description());
                return;
            } else names.add(args[i]);
        }
        List<Named> chosen = new ArrayList<>();
        for (Named b : all()) if (names.isEmpty() || names.contains(b.name())) chosen.add(b);
        for (String n : names) {
            if (all().stream().noneMatch(b -> b.name().equals(n))) {
                System.err.println("bench: unknown benchmark '" + n + "' (jobs/bench --list)");
                System.exit(2);
            }
        }
        List<Result> results = new ArrayList<>();
        try {
            for (Named b : chosen) {
                SparkSession spark = SparkSessions.start("squeeze bench"); // a benchmark may stop it to compare masters
                System.err.println("bench: " + b.name() + " (" + b.description() + ") on " + spark.sparkContext().master());
                results.addAll(b.bench().run(spark, System.err));
            }
        } catch (BadInputException e) {
            System.err.println("bench: " + e.getMessage());
            System.exit(2);
        } finally {
            SparkSession.getActiveSession().foreach(s -> {
                s.stop();
                return null;
            });
        }
        System.out.printf("%-36s %14s %14s %8s  %s%n", "benchmark", "value", "baseline", "ratio", "unit / note");
        for (Result r : results) {
            System.out.printf(Locale.ROOT, "%-36s %14.1f %14.1f %7.2fx  %s%s%n", r.name(), r.value(), r.baseline(), r.ratio(), r.unit(),
                    r.note().isEmpty() ? "" : " (" + r.note() + ")");
        }
        if (json != null) {
            Files.write(Path.of(json), Json.bytes(results)); // each Result as {name, value, unit, baseline, ratio, note}
            System.err.println("bench: wrote " + json);
        }
    }

    /**
     * Runs {@code bench/SCRIPT} with Debian's {@code /usr/bin/python3} (where {@code python3-torch} installs) and
     * returns the JSON object it prints; null when there is no such Python or script, or it fails (e.g. no torch
     * module). {@code env}: variables added to the child's environment; its stderr is discarded.
     */
    static com.fasterxml.jackson.databind.JsonNode python(String script, java.util.Map<String, String> env, List<String> args) throws java.io.IOException {
        java.io.File py = new java.io.File("/usr/bin/python3"), file = new java.io.File("bench", script);
        if (!py.canExecute() || !file.isFile()) return null;
        List<String> cmd = new ArrayList<>(List.of(py.getPath(), file.getPath()));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD);
        pb.environment().putAll(env);
        Process p = pb.start();
        String json = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
        try {
            return p.waitFor() == 0 && json.startsWith("{") ? Json.MAPPER.readTree(json) : null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }
}
