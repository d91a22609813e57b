package io.squeeze.bench;

import io.squeeze.core.BadInputException;
import io.squeeze.model.Json;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.sql.SparkSession;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code jobs/bench [NAME...] [--json FILE]}: runs named benchmarks, each measuring Squeeze against a baseline
 * side by side in the same run, prints a table and optionally writes a JSON list of
 * {@code {name, value, unit, baseline, ratio}}.
 */
public final class Bench {
    /** One measured figure against its baseline (ratio = value / baseline, higher is better for rates). */
    public record Result(String name, double value, String unit, double baseline, double ratio, String note) {}

    /** A named benchmark. */
    public interface Benchmark {
        String name();

        String description();

        List<Result> run(SparkSession spark, PrintStream progress) throws Exception;
    }

    static List<Benchmark> all() {
        return List.of(new EvaluateBench(), new FactorizeBench(), new PruneBench(), new QuantizeBench(), new SoftTargetsBench());
    }

    private Bench() {}

    public static void main(String[] args) throws Exception {
        List<String> names = new ArrayList<>();
        String json = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--json") && i + 1 < args.length) json = args[++i];
            else if (args[i].equals("--list") || args[i].equals("--help")) {
                System.out.println("usage: jobs/bench [NAME...] [--json FILE]");
                for (Benchmark b : all()) System.out.printf("  %-12s %s%n", b.name(), b.description());
                return;
            } else names.add(args[i]);
        }
        List<Benchmark> chosen = new ArrayList<>();
        for (Benchmark b : all()) if (names.isEmpty() || names.contains(b.name())) chosen.add(b);
        for (String n : names) {
            if (all().stream().noneMatch(b -> b.name().equals(n))) {
                System.err.println("bench: unknown benchmark '" + n + "' (jobs/bench --list)");
                System.exit(2);
            }
        }
        List<Result> results = new ArrayList<>();
        try {
            for (Benchmark b : chosen) {
                SparkSession spark = SparkSessions.start("squeeze bench"); // a benchmark may stop it to compare masters
                System.err.println("bench: " + b.name() + " (" + b.description() + ") on " + spark.sparkContext().master());
                results.addAll(b.run(spark, System.err));
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
            List<Map<String, Object>> out = new ArrayList<>();
            for (Result r : results) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("name", r.name());
                m.put("value", r.value());
                m.put("unit", r.unit());
                m.put("baseline", r.baseline());
                m.put("ratio", r.ratio());
                m.put("note", r.note());
                out.add(m);
            }
            Files.write(Path.of(json), Json.bytes(out));
            System.err.println("bench: wrote " + json);
        }
    }
}
