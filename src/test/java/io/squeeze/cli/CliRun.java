package io.squeeze.cli;

import io.squeeze.TestSpark;

import java.io.PrintWriter;
import java.io.StringWriter;

/** Runs {@code squeeze} in-process on the shared local[2] session and captures its output. */
public record CliRun(int code, String out, String err) {
    /** {@code args} followed by {@code more}: a command line with options added. */
    public static String[] with(String[] args, String... more) {
        String[] c = java.util.Arrays.copyOf(args, args.length + more.length);
        System.arraycopy(more, 0, c, args.length, more.length);
        return c;
    }

    public static CliRun run(String... args) {
        TestSpark.get();
        StringWriter o = new StringWriter(), e = new StringWriter();
        int code = Main.execute(new PrintWriter(o), new PrintWriter(e), args);
        return new CliRun(code, o.toString(), e.toString());
    }

    /** The last line printed on stderr. */
    public String lastErr() {
        String[] lines = err.strip().split("\n");
        return lines[lines.length - 1];
    }

    /** Trains the UCI digits MLP (64-128-64-10, minmax, 6 epochs) the compression CLI tests start from, into {@code out}. */
    public static String digitsMlp(String out, String... extra) {
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("train", "--data", "csv:data/digits/digits-train.csv.gz", "--arch", "mlp:128,64",
                "--epochs", "6", "--normalize", "minmax", "--sync-every", "5", "--lr", "0.005", "--batch", "32", "--out", out));
        args.addAll(java.util.List.of(extra));
        CliRun r = run(args.toArray(String[]::new));
        if (r.code() != 0) throw new AssertionError("training the digits MLP failed: " + r.err());
        return out;
    }
}
