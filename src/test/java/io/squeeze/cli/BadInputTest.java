package io.squeeze.cli;

import io.squeeze.TestModels;
import io.squeeze.core.Storage;
import io.squeeze.model.ModelIO;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** Every bad input: exit 2, one clear line naming the thing and the value, nothing written, nothing overwritten. */
class BadInputTest {
    static final String TEST = "csv:data/digits/digits-test.csv.gz";
    @TempDir
    static Path dir;
    static String model, report;

    @BeforeAll
    static void setUp() {
        model = dir.resolve("m.zip").toString();
        ModelIO.writeZip(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(model),
                TestModels.mlp(64, new int[]{8}, 10, 1), TestModels.minmaxMeta(64, 10), false);
        report = dir.resolve("never.json").toString();
    }

    /** Runs, expects exit 2 with a last line ending in {@code tail}, and no report written. */
    static void expect(String tail, String... args) {
        CliRun r = CliRun.run(args);
        assertEquals(2, r.code(), "exit code; stderr: " + r.err());
        assertTrue(r.lastErr().startsWith("squeeze: "), r.lastErr());
        assertTrue(r.lastErr().contains(tail), "expected '" + tail + "' in: " + r.lastErr());
        assertFalse(Files.exists(Path.of(report)), "nothing written");
    }

    static void expectEval(String tail, String modelPath, String data) {
        expect(tail, "evaluate", "--model", modelPath, "--data", data, "--report", report);
    }

    @Test
    void badModels() throws Exception {
        expectEval("does not exist", dir.resolve("nope.zip").toString(), TEST);
        Path garbage = Files.writeString(dir.resolve("garbage.zip"), "not a zip at all");
        expectEval("garbage.zip is not a DL4J model zip (no zip signature); is it corrupt?", garbage.toString(), TEST);
        byte[] all = Files.readAllBytes(Path.of(model));
        Path trunc = Files.write(dir.resolve("trunc.zip"), Arrays.copyOf(all, all.length / 3));
        CliRun r = CliRun.run("evaluate", "--model", trunc.toString(), "--data", TEST);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.lastErr().contains("trunc.zip") && r.lastErr().contains("truncated"), r.lastErr());

        MultiLayerNetwork lstm = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list()
                .layer(new LSTM.Builder().nIn(64).nOut(4).build()).layer(new RnnOutputLayer.Builder().nIn(4).nOut(10).build()).build());
        lstm.init();
        Path lz = dir.resolve("lstm.zip");
        ModelSerializer.writeModel(lstm, lz.toFile(), false);
        expectEval("layer 0 ('layer0') is a LSTM, which Squeeze does not support", lz.toString(), TEST);

        MultiLayerNetwork nan = TestModels.mlp(64, new int[]{8}, 10, 1);
        nan.getLayer(0).getParam("b").putScalar(3, Float.POSITIVE_INFINITY);
        Path nz = dir.resolve("inf.zip");
        ModelSerializer.writeModel(nan, nz.toFile(), false);
        expectEval("layer 0 parameter b has a non-finite weight (Infinity at flat index 3)", nz.toString(), TEST);
        expect("does not exist", "inspect", "--model", dir.resolve("nope").toString());
    }

    @Test
    void badData() throws Exception {
        expectEval("nothing.csv does not exist", model, "csv:" + dir.resolve("nothing.csv"));
        Path empty = Files.writeString(dir.resolve("empty.csv"), "");
        expectEval("data csv:" + empty + " is empty (no rows)", model, "csv:" + empty);
        Path three = Files.writeString(dir.resolve("three.csv"), "1,2,3,1\n");
        expectEval("data csv:" + three + " has 3 features but model file:" + model + " expects 64", model, "csv:" + three);
        String row = "0,".repeat(64);
        Path outOfRange = Files.writeString(dir.resolve("range.csv"), row + "3\n" + row + "12\n");
        expectEval("row 1: label 12 is out of range for a model with 10 classes", model, "csv:" + outOfRange);
        Path nan = Files.writeString(dir.resolve("nan.csv"), "NaN," + "0,".repeat(63) + "3\n");
        expectEval("row 0 feature 0 is NaN (features must be finite)", model, "csv:" + nan);
        expectEval("data 'tsv:x' must start with one of [idx:, parquet:, csv:, libsvm:]", model, "tsv:x");
        String out = dir.resolve("never-model").toString();
        CliRun r = CliRun.run("train", "--data", "csv:" + outOfRange, "--arch", "mlp:4", "--epochs", "1", "--out", out);
        assertEquals(0, r.code(), "labels 3 and 12 make 13 classes for training: " + r.err());
        Path neg = Files.writeString(dir.resolve("neg.csv"), row + "-1\n");
        CliRun t = CliRun.run("train", "--data", "csv:" + neg, "--arch", "mlp:4", "--epochs", "1", "--out", dir.resolve("never2").toString());
        assertEquals(2, t.code());
        assertTrue(t.lastErr().endsWith("row 0: label -1 is not a class index (a non-negative integer)"), t.lastErr());
        assertFalse(Files.exists(dir.resolve("never2")));
    }

    @Test
    void badFlags() {
        expect("Invalid value for option '--normalize'", "train", "--data", TEST, "--arch", "mlp:4", "--epochs", "1", "--normalize", "zscore", "--out", report);
        expect("Invalid value for option '--split'", "evaluate", "--model", model, "--data", TEST, "--split", "middle");
        expect("Unknown option: '--frobnicate'", "inspect", "--model", model, "--frobnicate");
        expect("--epochs must be > 0, got 0", "train", "--data", TEST, "--arch", "mlp:4", "--epochs", "0", "--out", report);
        expect("--arch 'resnet' is not mlp:H1,H2,..., lenet5 or a .json DL4J configuration", "train", "--data", TEST, "--arch", "resnet", "--epochs", "1", "--out", report);
        expect("Missing required option: '--data=D'", "evaluate", "--model", model);
        expect("--batch must be > 0, got -5", "evaluate", "--model", model, "--data", TEST, "--batch", "-5");
        // values out of range, named as the user typed them
        expect("quantize.calib-rows must be > 0 (leave it out to calibrate on every row), got 0", "quantize", "--model", model, "--calib-data", TEST,
                "--calib-rows", "0", "--out", report);
        expect("--layer-precision '9' matches no layer with weights", "quantize", "--model", model, "--calib-data", TEST,
                "--layer-precision", "9=8", "--out", report);
        expect("lottery.rate must be in [0,1], got 1.5", "lottery", "--data", TEST, "--test-data", TEST, "--arch", "mlp:4", "--epochs", "1",
                "--rate", "1.5", "--out", report);
        // fine-tuning data without epochs would record a fine-tuning that never ran: refused, nothing written
        for (String cmd : new String[]{"prune", "factorize"}) {
            String[] method = cmd.equals("prune") ? new String[]{"--method", "l1", "--amount", "0.5"} : new String[]{"--rank", "2"};
            String[] args = java.util.stream.Stream.of(new String[]{cmd, "--model", model}, method,
                    new String[]{"--fine-tune-data", TEST, "--out", report}).flatMap(Arrays::stream).toArray(String[]::new);
            expect("--fine-tune-data " + TEST + " needs --fine-tune-epochs E (E > 0); without it nothing would be fine-tuned", args);
            String[] noData = java.util.stream.Stream.of(new String[]{cmd, "--model", model}, method,
                    new String[]{"--fine-tune-epochs", "2", "--out", report}).flatMap(Arrays::stream).toArray(String[]::new);
            expect("--fine-tune-epochs needs --fine-tune-data", noData);
        }
    }

    @Test
    void anOutputInsideOrAroundAnInputIsRefusedBeforeAnyWork() throws Exception {
        String art = dir.resolve("art").toString();
        assertEquals(0, CliRun.run("prune", "--model", model, "--method", "l1", "--amount", "0.5", "--out", art).code());
        byte[] manifest = Files.readAllBytes(Path.of(art, "manifest.json"));
        CliRun inside = CliRun.run("quantize", "--model", art, "--mode", "dynamic", "--out", art + "/packed/nested");
        assertEquals(2, inside.code(), inside.err());
        assertTrue(inside.lastErr().matches("squeeze: output \\S+/packed/nested is inside the job's input \\S+/art; write the result elsewhere"),
                inside.lastErr());
        assertFalse(Files.exists(Path.of(art, "packed", "nested")));
        CliRun same = CliRun.run("prune", "--model", art, "--method", "l1", "--amount", "0.5", "--out", art, "--overwrite");
        assertEquals(2, same.code());
        assertTrue(same.lastErr().contains("is the job's input"), same.lastErr());
        CliRun around = CliRun.run("factorize", "--model", art, "--rank", "2", "--out", dir.toString(), "--overwrite");
        assertEquals(2, around.code());
        assertTrue(around.lastErr().contains("holds the job's input"), around.lastErr());
        assertArrayEquals(manifest, Files.readAllBytes(Path.of(art, "manifest.json")), "the input is untouched");
    }

    @Test
    void outputsThatExistOrCannotBeWritten() throws Exception {
        Path existing = Files.createDirectories(dir.resolve("existing"));
        Files.writeString(existing.resolve("keep.txt"), "precious");
        CliRun r = CliRun.run("train", "--data", TEST, "--arch", "mlp:4", "--epochs", "1", "--out", existing.toString());
        assertEquals(2, r.code());
        assertEquals("squeeze: output file:" + existing + " exists; pass --overwrite to replace it", r.lastErr());
        assertEquals("precious", Files.readString(existing.resolve("keep.txt")));
        Path file = Files.writeString(dir.resolve("plainfile"), "x");
        CliRun w = CliRun.run("train", "--data", TEST, "--arch", "mlp:4", "--epochs", "1", "--out", file.resolve("sub/out").toString());
        assertEquals(2, w.code());
        assertTrue(w.lastErr().endsWith("cannot be written: file:" + file + " is a file"), w.lastErr());
        CliRun e = CliRun.run("weights", "export", "--model", model, "--out", existing.toString());
        assertEquals(2, e.code());
        assertEquals("precious", Files.readString(existing.resolve("keep.txt")));
    }
}
