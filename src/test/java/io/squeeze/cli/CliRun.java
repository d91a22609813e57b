package io.squeeze.cli;

import io.squeeze.TestSpark;

import java.io.PrintWriter;
import java.io.StringWriter;

/** Runs {@code squeeze} in-process on the shared local[2] session and captures its output. */
public record CliRun(int code, String out, String err) {
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
}
