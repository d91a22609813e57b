package io.squeeze.cli;

import io.squeeze.TestArtifacts;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class BatchCliTest {
    static final String DENSE = "src/test/resources/fixtures/artifacts-v1/dense", TEST = "csv:data/digits/digits-test.csv.gz";

    @TempDir
    Path dir;

    @Test
    void theCommandsOfABatchWriteWhatTheyWriteAlone() throws Exception {
        String[] prune = {"prune", "--model", DENSE, "--method", "l1", "--amount", "0.5", "--eval-data", TEST};
        String[] quantize = {"quantize", "--model", DENSE, "--mode", "dynamic", "--bits", "8"};
        Path batch = Files.writeString(dir.resolve("nightly.txt"), """
                # two jobs, one application
                %s --out '%s'

                %s --out "%s"
                """.formatted(String.join(" ", prune), dir.resolve("b prune"), String.join(" ", quantize), dir.resolve("b-quantize")));
        CliRun r = CliRun.run("batch", batch.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("batch: [1/2] line 2: prune --model"), r.err());
        assertTrue(r.err().contains("batch: [2/2] line 4: quantize --model"), r.err());
        assertTrue(r.err().contains("batch: 2 commands done in "), r.err());
        assertEquals(0, CliRun.run(CliRun.with(prune, "--out", dir.resolve("prune").toString())).code());
        assertEquals(0, CliRun.run(CliRun.with(quantize, "--out", dir.resolve("quantize").toString())).code());
        assertEquals(TestArtifacts.packed(dir.resolve("prune").toString()), TestArtifacts.packed(dir.resolve("b prune").toString()));
        assertEquals(TestArtifacts.packed(dir.resolve("quantize").toString()), TestArtifacts.packed(dir.resolve("b-quantize").toString()));
        // each manifest records its own command line
        var command = new com.fasterxml.jackson.databind.ObjectMapper().readTree(dir.resolve("b prune/manifest.json").toFile()).get("command");
        assertEquals("prune", command.get(0).asText());
        assertEquals(dir.resolve("b prune").toString(), command.get(command.size() - 1).asText());
    }

    @Test
    void aLineThatDoesNotParseRunsNothing() throws Exception {
        Path out = dir.resolve("never");
        Path batch = Files.writeString(dir.resolve("bad.txt"), "prune --model " + DENSE + " --method l1 --amount 0.5 --out " + out + "\n"
                + "quantize --model " + DENSE + " --mode dynamic --bitz 8 --out " + dir.resolve("q") + "\n");
        CliRun r = CliRun.run("batch", batch.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.lastErr().startsWith("squeeze: batch file ") && r.lastErr().contains(" line 2: Unknown options: '--bitz', '8'"), r.err());
        assertFalse(Files.exists(out), "the first line did not run");
        for (String text : new String[]{"", "# nothing\n\n", "batch other.txt\n", "prune --model 'm --out x\n"}) {
            CliRun e = CliRun.run("batch", Files.writeString(dir.resolve("e.txt"), text).toString());
            assertEquals(2, e.code(), text);
        }
        CliRun none = CliRun.run("batch", dir.resolve("nope.txt").toString());
        assertEquals(2, none.code());
        assertTrue(none.lastErr().matches("squeeze: batch file (file:)?" + java.util.regex.Pattern.quote(dir.resolve("nope.txt").toString()) + " does not exist"), none.err());
        CliRun directory = CliRun.run("batch", dir.toString());
        assertEquals(2, directory.code(), directory.err());
        assertTrue(directory.lastErr().startsWith("squeeze: batch file ") && directory.lastErr().endsWith(" does not exist"), directory.err());
    }

    @Test
    void theBatchStopsAtTheFirstCommandThatFails() throws Exception {
        Path first = dir.resolve("first"), third = dir.resolve("third");
        Path batch = Files.writeString(dir.resolve("stop.txt"), String.join("\n",
                "prune --model " + DENSE + " --method l1 --amount 0.5 --out " + first,
                "prune --model " + dir.resolve("missing") + " --method l1 --amount 0.5 --out " + dir.resolve("second"),
                "prune --model " + DENSE + " --method l1 --amount 0.5 --out " + third));
        CliRun r = CliRun.run("batch", batch.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(Files.exists(first.resolve("manifest.json")));
        assertFalse(Files.exists(third));
        assertTrue(r.lastErr().equals("batch: line 2 exited with 2; 1 command(s) after it not run"), r.err());
    }

    @Test
    void wordsSplitAtUnquotedSpaces() {
        assertEquals(List.of("a", "b c", "d", "", "e'f"), BatchCommand.words(" a 'b c'  \"d\" '' \"e'f\"", "x"));
        assertEquals(List.of("--out=a b"), BatchCommand.words("--out='a b'", "x"));
        var e = assertThrows(io.squeeze.core.BadInputException.class, () -> BatchCommand.words("a 'b", "batch file f line 3"));
        assertEquals("batch file f line 3: a ' quote is not closed", e.getMessage());
    }
}
