package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.artifact.Artifact;
import io.squeeze.artifact.Manifest;
import io.squeeze.core.Storage;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A convolutional network with batch normalization ({@code conf/examples/digits-cnn-bn.json}) trained on the UCI digits
 * on local Spark, then quantized (the batch normalizations folded first; a by-index precision override still names
 * the source model's layer), pruned with structured shrinking through the batch normalizations, and exported to ONNX.
 */
class BatchNormCliTest {
    static final String TRAIN = "csv:data/digits/digits-train.csv.gz", TEST = "csv:data/digits/digits-test.csv.gz";
    static final ObjectMapper M = new ObjectMapper();
    static final Storage ST = new Storage(new org.apache.hadoop.conf.Configuration());
    @TempDir
    static Path dir;
    static String model;
    static double accuracy;

    @BeforeAll
    static void train() throws Exception {
        model = dir.resolve("bn").toString();
        CliRun r = CliRun.run("train", "--data", TRAIN, "--arch", "conf/examples/digits-cnn-bn.json", "--epochs", "4",
                "--normalize", "minmax", "--sync-every", "5", "--batch", "32", "--out", model);
        assertEquals(0, r.code(), r.err());
        accuracy = evaluate(model).get("accuracy").asDouble();
        assertTrue(accuracy > 0.93, "digits CNN with batch normalization: " + accuracy);
    }

    static JsonNode evaluate(String art) throws Exception {
        String rep = dir.resolve(Path.of(art).getFileName() + "-report.json").toString();
        CliRun r = CliRun.run("evaluate", "--model", art, "--data", TEST, "--report", rep, "--overwrite");
        assertEquals(0, r.code(), r.err());
        return M.readTree(Files.readAllBytes(Path.of(rep)));
    }

    @Test
    void staticInt8FoldsTheBatchNormalizationsAndKeepsAccuracy() throws Exception {
        String out = dir.resolve("int8").toString();
        CliRun r = CliRun.run("quantize", "--model", model, "--mode", "static", "--bits", "8", "--calib-data", TRAIN,
                "--calib-rows", "500", "--layer-precision", "3=fp32", "--eval-data", TEST, "--out", out);
        assertEquals(0, r.code(), r.err());
        for (String s : new String[]{"batch normalization layer 1 folded into layer 0", "batch normalization layer 4 folded into layer 3",
                "batch normalization layer 8 folded into layer 7"})
            assertTrue(r.err().contains(s), r.err());
        Artifact a = Artifact.load(ST, out);
        MultiLayerNetwork net = a.model().net();
        assertEquals(8, net.getnLayers(), "11 layers less the 3 folded batch normalizations");
        for (int i = 0; i < net.getnLayers(); i++) assertFalse(net.getLayer(i).conf().getLayer() instanceof BatchNormalization);
        Manifest.LayerRecord conv2 = a.manifest().layers().get(2);
        assertEquals("conv2", conv2.name());
        assertEquals("quantize:fp32", conv2.method(), "--layer-precision 3 names the source model's conv2, folded layer 2");
        assertEquals("layer 4 'bn2'", conv2.details().get("folded_batch_norm"));
        assertEquals("quantize:int8", a.manifest().layers().get(0).method());
        JsonNode rep = evaluate(out);
        assertEquals("integer", rep.get("accuracy_path").asText(), rep.toString());
        assertEquals(accuracy, rep.get("accuracy").asDouble(), 0.01, "int8 with folded batch normalization vs float");
    }

    @Test
    void shrinkingPassesThroughBatchNormalizationAndExportRunsIt() throws Exception {
        String masked = dir.resolve("ln-masked").toString(), shrunk = dir.resolve("ln-shrunk").toString();
        String[] common = {"prune", "--model", model, "--method", "ln", "--dim", "out", "--norm", "2", "--amount", "0.5", "--layers", "0,3,7"};
        assertEquals(0, CliRun.run(CliRun.with(common, "--out", masked)).code());
        CliRun r = CliRun.run(CliRun.with(common, "--shrink", "--out", shrunk));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("shrink layer 0: channels 16 -> 8") && r.err().contains("shrink layer 3: channels 16 -> 8")
                && r.err().contains("shrink layer 7: nOut 64 -> 32"), r.err());
        MultiLayerNetwork a = Artifact.load(ST, masked).model().net(), b = Artifact.load(ST, shrunk).model().net();
        assertEquals(8, ((BatchNormalization) b.getLayer(1).conf().getLayer()).getNOut());
        assertTrue(b.numParams() < a.numParams() * 0.6, b.numParams() + " vs " + a.numParams());
        var x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 40, 64);
        assertEquals(0, a.output(x, false).sub(b.output(x, false)).amax().getDouble(0), 1e-5, "shrunk outputs equal the masked ones");
        assertEquals(evaluate(masked).get("accuracy").asDouble(), evaluate(shrunk).get("accuracy").asDouble(), 1e-9);

        String onnx = dir.resolve("bn.onnx").toString();
        CliRun e = CliRun.run("export", "--model", shrunk, "--format", "onnx", "--out", onnx);
        assertEquals(0, e.code(), e.err());
        assertTrue(Files.size(Path.of(onnx)) > 0);
    }
}
