package io.squeeze.cli;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code squeeze batch FILE}: the commands of a file, one per line, run in order in one process and so in one Spark
 * application. On a cluster every application starts its executors (JVMs, the job jar fetched, native libraries
 * loaded, code warmed up), which on a small cluster takes longer than a small job's work; a batch pays it once. Every
 * line is parsed before anything runs; the batch stops at the first command that fails.
 */
@Command(name = "batch", mixinStandardHelpOptions = true,
        description = {"Runs the commands listed in FILE, one per line, in order, in one Spark application: on a cluster",
                "each application starts its executors (JVMs, the job jar, native libraries), which can take longer than",
                "a small job. A line is a command as typed after 'squeeze': words split at spaces, '...' or \"...\" quote",
                "a word; blank lines and lines starting with # are skipped. Every line is parsed first: one that does not",
                "parse is bad input (exit 2) and nothing runs. The batch stops at the first command that fails and exits",
                "with its code. Each command writes what it writes alone (its manifest records its own command line).",
                "Example: squeeze batch nightly.txt"})
public final class BatchCommand extends BaseCommand {
    @Parameters(index = "0", paramLabel = "FILE", description = "the commands, one per line (a local, hdfs:// or s3a:// path)")
    String file;

    /** One line of the file: its number and its words. */
    record Line(int number, List<String> words) {
        String[] args() {
            return words.toArray(String[]::new);
        }
    }

    @Override
    public Integer call() {
        Storage st = Storage.withSparkDefaults();
        org.apache.hadoop.fs.Path p = st.path(file);
        // a missing file (or a directory) is bad input naming it: Storage.readAll says so
        List<Line> lines = parse(new String(st.readAll(p, "batch file"), StandardCharsets.UTF_8), "batch file " + p);
        long start = System.nanoTime();
        for (int i = 0; i < lines.size(); i++) {
            Line l = lines.get(i);
            err().printf("batch: [%d/%d] line %d: %s%n", i + 1, lines.size(), l.number(), String.join(" ", l.words()));
            err().flush();
            int code = Main.execute(out(), err(), l.args());
            if (code != Main.OK) {
                err().printf("batch: line %d exited with %d; %d command(s) after it not run%n", l.number(), code, lines.size() - i - 1);
                return code;
            }
        }
        err().printf("batch: %d commands done in %.1f s%n", lines.size(), (System.nanoTime() - start) / 1e9);
        return Main.OK;
    }

    /**
     * The file's commands, each checked by the command-line parser (unknown commands and options, missing or
     * malformed values) before any runs.
     */
    static List<Line> parse(String text, String what) {
        List<Line> lines = new ArrayList<>();
        String[] raw = text.split("\r?\n", -1);
        for (int n = 1; n <= raw.length; n++) {
            String s = raw[n - 1].strip();
            if (s.isEmpty() || s.startsWith("#")) continue;
            Line line = new Line(n, words(s, what + " line " + n));
            if (line.words().get(0).equals("batch")) throw new BadInputException(what + " line " + n + ": a batch cannot run another batch");
            try {
                Main.commandLine().parseArgs(line.args());
            } catch (CommandLine.ParameterException e) {
                throw new BadInputException(what + " line " + n + ": " + e.getMessage().strip());
            }
            lines.add(line);
        }
        if (lines.isEmpty()) throw new BadInputException(what + " has no commands");
        return lines;
    }

    /** Splits a line into words at unquoted whitespace; {@code '…'} and {@code "…"} quote (no escapes). */
    static List<String> words(String line, String what) {
        List<String> words = new ArrayList<>();
        StringBuilder w = new StringBuilder();
        boolean inWord = false;
        char quote = 0;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quote != 0) {
                if (c == quote) quote = 0;
                else w.append(c);
            } else if (c == '\'' || c == '"') {
                quote = c;
                inWord = true;
            } else if (Character.isWhitespace(c)) {
                if (inWord) words.add(w.toString());
                w.setLength(0);
                inWord = false;
            } else {
                w.append(c);
                inWord = true;
            }
        }
        if (quote != 0) throw new BadInputException(what + ": a " + quote + " quote is not closed");
        if (inWord) words.add(w.toString());
        return words;
    }
}
