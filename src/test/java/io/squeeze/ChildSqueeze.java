package io.squeeze;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** {@code squeeze} in a child JVM with this JVM's classpath and Spark flags (embedded Spark, {@code local[2]}). */
public final class ChildSqueeze {
    private ChildSqueeze() {}

    /** What the child printed (stdout and stderr merged) and its exit code. */
    public record Result(int code, String log) {}

    static List<String> command(List<String> jvmArgs, String... args) {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java")));
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments())
            if (a.startsWith("--add-opens") || a.startsWith("--add-exports") || a.startsWith("-Dorg.bytedeco") || a.startsWith("-Djdk.reflect")
                    || a.startsWith("-Djava.io.tmpdir") || a.startsWith("-Dlog4j2") || a.equals("-XX:+IgnoreUnrecognizedVMOptions")) cmd.add(a);
        cmd.addAll(List.of("-Xmx1g", "-Dspark.master=local[2]"));
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.squeeze.cli.Main"));
        cmd.addAll(Arrays.asList(args));
        return cmd;
    }

    /** Runs to the end. */
    public static Result run(String... args) throws Exception {
        return run(List.of(), line -> false, args);
    }

    /**
     * Runs until it exits or prints a line {@code killAt} accepts; then kills it with SIGKILL (no shutdown hook, no
     * finally block runs) and returns exit code 137.
     */
    public static Result run(List<String> jvmArgs, Predicate<String> killAt, String... args) throws Exception {
        Process p = new ProcessBuilder(command(jvmArgs, args)).redirectErrorStream(true).start();
        StringBuilder log = new StringBuilder();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                log.append(line).append('\n');
                if (killAt.test(line)) {
                    p.destroyForcibly();
                    break;
                }
            }
        }
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("the child did not end:\n" + log);
        }
        return new Result(p.exitValue(), log.toString());
    }
}
