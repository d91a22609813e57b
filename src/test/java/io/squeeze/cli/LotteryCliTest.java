package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.Storage;
import io.squeeze.core.Mask;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class LotteryCliTest {
    @TempDir
    Path dir;

    @Test
    void roundsPruneTheRemainingWeightsPerLayerAndWriteTheTable() throws Exception {
        String out = dir.resolve("lottery").toString();
        CliRun r = CliRun.run("lottery", "--data", "csv:data/digits/digits-train.csv.gz", "--test-data", "csv:data/digits/digits-test.csv.gz",
                "--arch", "mlp:64,32", "--normalize", "minmax", "--epochs", "2", "--rounds", "2", "--control", "--batch", "32", "--out", out);
        assertEquals(0, r.code(), r.err());
        JsonNode t = new ObjectMapper().readTree(Files.readAllBytes(Path.of(out, "lottery.json")));
        assertEquals(5, t.size(), "round 0, then ticket + control for rounds 1 and 2");
        long total = 64 * 64 + 64 * 32 + 32 * 10;
        long p1 = Math.round(0.2 * 4096) + Math.round(0.2 * 2048) + Math.round(0.1 * 320);
        long p2 = p1 + Math.round(0.2 * (4096 - 819)) + Math.round(0.2 * (2048 - 410)) + Math.round(0.1 * (320 - 32));
        assertEquals(1.0, t.get(0).get("weights_remaining").asDouble());
        assertEquals((double) (total - p1) / total, t.get(1).get("weights_remaining").asDouble(), 1e-12);
        assertEquals("random-reinit", t.get(2).get("run").asText());
        assertEquals((double) (total - p2) / total, t.get(3).get("weights_remaining").asDouble(), 1e-12);
        for (JsonNode row : t) {
            assertTrue(row.get("test_accuracy").asDouble() > 0.1);
            assertTrue(row.get("iterations_to_best_validation_loss").asLong() > 0);
        }
        Artifact ticket = Artifact.load(new Storage(new Configuration()), out + "/ticket");
        assertEquals(total - p2, total - ticket.model().masks().values().stream().mapToLong(Mask::prunedCount).sum());
        PruneCliTest.assertMaskedZero(ticket.model());
        assertEquals(2, CliRun.run("lottery", "--data", "csv:data/digits/digits-train.csv.gz", "--test-data", "csv:data/digits/digits-test.csv.gz",
                "--arch", "mlp:8", "--epochs", "1", "--rounds", "1", "--out", out).code(), "exists");
        // --overwrite publishes the new ticket and table together in the old one's place, leaving no hidden sibling
        assertEquals(0, CliRun.run("lottery", "--data", "csv:data/digits/digits-train.csv.gz", "--test-data", "csv:data/digits/digits-test.csv.gz",
                "--arch", "mlp:8", "--epochs", "1", "--rounds", "1", "--out", out, "--overwrite").code());
        assertEquals(2, new ObjectMapper().readTree(Files.readAllBytes(Path.of(out, "lottery.json"))).size(), "round 0 and round 1 (no control)");
        assertEquals(64 * 8 + 8 * 10, Artifact.load(new Storage(new Configuration()), out + "/ticket").model().masks().values().stream()
                .mapToLong(Mask::size).sum());
        try (var siblings = Files.list(dir)) {
            assertEquals(java.util.List.of(), siblings.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".lottery")).toList());
        }
        CliRun bad = CliRun.run("lottery", "--data", "csv:data/digits/digits-train.csv.gz", "--test-data", "csv:data/digits/digits-test.csv.gz",
                "--arch", "mlp:8", "--epochs", "1", "--rate", "1.5", "--out", dir.resolve("x").toString());
        assertEquals(2, bad.code());
        assertTrue(bad.lastErr().endsWith("lottery.rate must be in [0,1], got 1.5"), bad.lastErr()); // the option the user typed
    }

    @Test
    void theTicketRecordsTheLotteryConfigAndRerunReproducesTheDirectory() throws Exception {
        String out = dir.resolve("lottery-rerun").toString(), again = dir.resolve("lottery-again").toString();
        CliRun r = CliRun.run("lottery", "--data", "csv:data/digits/digits-train.csv.gz", "--test-data", "csv:data/digits/digits-test.csv.gz",
                "--arch", "mlp:16", "--normalize", "minmax", "--epochs", "1", "--rounds", "2", "--rate", "0.3", "--lr", "0.004", "--out", out);
        assertEquals(0, r.code(), r.err());
        var config = Artifact.load(new Storage(new Configuration()), out + "/ticket").manifest().config();
        var c = (io.squeeze.spark.LotteryJob.Config) io.squeeze.spark.Jobs.fromMap(config, RerunCommand.types(), out);
        assertEquals(new io.squeeze.spark.LotteryJob.Rounds(2, 0.3, 0.1, 0, false, 43), c.rounds());
        assertEquals(new io.squeeze.model.Architectures.Hyper(42, 0.004, 0), c.hyper());
        assertEquals(io.squeeze.data.Normalization.MINMAX, c.normalize());
        assertEquals("csv:data/digits/digits-test.csv.gz", c.testData().toString());
        CliRun rr = CliRun.run("rerun", "--manifest", out + "/ticket/manifest.json", "--out", again);
        assertEquals(0, rr.code(), rr.err());
        assertArrayEquals(Files.readAllBytes(Path.of(out, "lottery.json")), Files.readAllBytes(Path.of(again, "lottery.json")));
        assertEquals(io.squeeze.TestArtifacts.packed(out + "/ticket"), io.squeeze.TestArtifacts.packed(again + "/ticket"));
    }
}
