package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.squeeze.core.Storage;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The lottery on a ResNet as a user runs it on the UCI digits: its ticket a graph artifact with its masks, alone and as a recipe's first stage. */
class GraphLotteryCliTest {
    static final String TRAIN = QuantizeCliTest.TRAIN, TEST = QuantizeCliTest.TEST;
    @TempDir
    static Path dir;

    @Test
    void theLotteryRunsOnAResNetAndWritesItsTicketAsAGraphArtifact() throws Exception {
        String[] cmd = {"lottery", "--data", TRAIN, "--test-data", TEST, "--arch", "resnet:1", "--epochs", "1", "--rounds", "2", "--rate", "0.5",
                "--output-rate", "0.2", "--control", "--lr", "0.003", "--normalize", "minmax"};
        String out = dir.resolve("lottery").toString();
        CliRun r = CliRun.run(CliRun.with(cmd, "--out", out));
        assertEquals(0, r.code(), r.err());
        // 76,432 hidden weights at a quarter, the output layer's 640 at 0.8 · 0.8
        assertTrue(r.err().contains("lottery: round 2/2, 25.3% of weights remain"), r.err());
        JsonNode table = QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(out, "lottery.json")));
        assertEquals(5, table.size(), table.toString()); // round 0; rounds 1 and 2 with their controls
        assertEquals("random-reinit", table.get(2).get("run").asText());
        assertEquals(1.0, table.get(0).get("weights_remaining").asDouble());
        assertTrue(table.get(3).get("test_accuracy").asDouble() > 0.5, "a quarter of the weights, one epoch: " + table.get(3));
        var art = io.squeeze.artifact.Artifact.load(new Storage(new Configuration()), Path.of(out, "ticket").toString());
        assertEquals(3, art.manifest().formatVersion());
        assertEquals("lottery", art.manifest().config().get("command"));
        org.deeplearning4j.nn.graph.ComputationGraph ticket = art.model().graph();
        // the masks come back with the ticket: what the rounds pruned, and nothing else
        var s3 = art.model().masks().get(new io.squeeze.core.TensorKey(io.squeeze.model.GraphMasks.names(ticket).indexOf("s3b1_conv2"), "W"));
        assertEquals(36864 - Math.round(36864 * 0.5) - Math.round(36864 * 0.5 * 0.5), s3.keptCount());
        java.util.Map<String, boolean[]> z = GraphCliTest.zeros(ticket);
        // every layer lost half of its remaining weights twice, the output layer a fifth twice, and the zeros stayed through training
        assertEquals(Math.round(36864 * 0.5) + Math.round(36864 * 0.5 * 0.5), GraphCliTest.count(z.get("s3b1_conv2")));
        int out64 = 64 * 10;
        assertEquals(Math.round(out64 * 0.2) + Math.round((out64 - Math.round(out64 * 0.2)) * 0.2), GraphCliTest.count(z.get("output")));
        assertFalse(ticket.getConfiguration().toJson().contains("MaskConstraint"));
        assertTrue(r.out().contains("ticket and ") && r.out().contains("lottery.json"), r.out());
        assertTrue(Files.exists(Path.of(out, "ticket", "packed", "tensors.json")));
    }

    /** A recipe starting from a ResNet's lottery ticket (an artifact, DIR/ticket) and quantizing it: the zeros stay zero in integers. */
    @Test
    void aRecipeQuantizesAResNetsTicket() throws Exception {
        String out = dir.resolve("recipe").toString();
        Path yaml = Files.writeString(dir.resolve("lottery.yaml"), """
                name: resnet-lottery-int8
                data: {train: %s, eval: %s}
                accuracy: {metric: accuracy, tolerable_loss: 0.1}
                stages:
                  - lottery: {arch: "resnet:1", epochs: 1, rounds: 1, rate: 0.5, lr: 0.003, normalize: minmax}
                  - quantize: {mode: static, calib-rows: 300}
                """.formatted(TRAIN, TEST));
        CliRun r = CliRun.run("run", yaml.toString(), "--out", out);
        assertEquals(0, r.code(), r.err());
        Storage st = new Storage(new Configuration());
        var ticket = io.squeeze.artifact.Artifact.load(st, out + "/stages/01-lottery/ticket");
        var quantized = io.squeeze.artifact.Artifact.load(st, out + "/stages/02-quantize");
        assertTrue(ticket.model().isGraph() && quantized.model().isGraph() && quantized.quant() != null);
        int zerosTicket = 0, zerosQuantized = 0;
        for (boolean[] z : GraphCliTest.zeros(ticket.model().graph()).values()) zerosTicket += GraphCliTest.count(z);
        for (boolean[] z : GraphCliTest.zeros(quantized.model().graph()).values()) zerosQuantized += GraphCliTest.count(z);
        assertTrue(zerosTicket > 30000, "half the weights pruned: " + zerosTicket);
        assertTrue(zerosQuantized >= zerosTicket, "the ticket's zeros stay zero in int8: " + zerosQuantized + " vs " + zerosTicket);
        Map<?, ?> report = io.squeeze.model.Json.read(Files.readAllBytes(Path.of(out, "report.json")), Map.class);
        assertEquals(2, ((List<?>) report.get("stages")).size());
    }
}
