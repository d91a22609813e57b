package io.squeeze.model;

import io.squeeze.core.BadInputException;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.artifact.Models;
import io.squeeze.core.Storage;
import io.squeeze.cli.CliRun;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.File;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Keras 2 .h5 files written by committed generators (src/test/resources/keras/make_keras_h5.py, a Sequential model;
 * make_keras_functional_h5.py, functional-API models) import with NumPy's outputs; a functional model that branches
 * runs as a graph where graphs are taken and is refused naming its merges and forks where layer stacks are needed.
 */
public class KerasImportTest {
    @org.junit.jupiter.api.io.TempDir
    static java.nio.file.Path dir;

    static final String H5 = new File("src/test/resources/keras/tiny-mlp.h5").getAbsolutePath();

    @Test
    void importedModelComputesWhatNumpyComputes() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/tiny-mlp-expected.json"));
        LoadedModel m = Models.load(new Storage(new Configuration()), H5);
        assertEquals(SourceKind.KERAS_H5, m.kind());
        assertEquals(4, m.meta().numFeatures());
        assertEquals(3, m.meta().numClasses());
        int n = ref.get("inputs").size();
        float[] x = inputs(ref, 4);
        INDArray out = assertNumpyOutputs(m, ref, 4);
        // Keras' kernel [in, out] is DL4J's W [nIn, nOut]
        assertEquals(ref.get("W1").get(2).get(3).asDouble(), m.net().getLayer(0).getParam("W").getDouble(2, 3), 1e-7);
        // the configuration survives JSON, as executors rebuild it (the converted output layer keeps an updater)
        var rebuilt = io.squeeze.model.NetPayload.of(m.net()).build();
        assertEquals(out, rebuilt.output(Nd4j.create(x, new long[]{n, 4}, 'c')));
    }

    @Test
    void aChannelsLastKerasCnnImportsChannelsFirstWithNumpysOutputsQuantizesAndExports() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/keras-cnn-expected.json"));
        String h5 = new File("src/test/resources/keras/keras-cnn.h5").getAbsolutePath();
        LoadedModel m = Models.load(new Storage(new Configuration()), h5);
        assertArrayEquals(new int[]{8, 8, 1}, m.meta().inputShape());
        assertEquals(64, m.meta().numFeatures());
        var c = m.net().getLayerWiseConfigurations();
        for (int i = 0; i < c.getConfs().size(); i++) {
            if (c.getConf(i).getLayer() instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer l)
                assertEquals(org.deeplearning4j.nn.conf.CNN2DFormat.NCHW, l.getCnn2dDataFormat(), "layer " + i);
            if (c.getConf(i).getLayer() instanceof org.deeplearning4j.nn.conf.layers.SubsamplingLayer l)
                assertEquals(org.deeplearning4j.nn.conf.CNN2DFormat.NCHW, l.getCnn2dDataFormat(), "layer " + i);
        }
        int n = ref.get("inputs").size();
        float[] x = inputs(ref, 64);
        INDArray out = assertNumpyOutputs(m, ref, 64);

        // the channels-first network goes where the NHWC import could not: static int8 in integer arithmetic, ONNX
        File dir = java.nio.file.Files.createTempDirectory(new File("target").toPath(), "keras-cnn").toFile();
        String data = "csv:" + java.nio.file.Files.writeString(new File(dir, "in.csv").toPath(), labelledCsv(ref));
        String q = new File(dir, "int8").getPath(), onnx = new File(dir, "cnn.onnx").getPath(), rep = new File(dir, "rep.json").getPath();
        CliRun r = CliRun.run("quantize", "--model", h5, "--mode", "static", "--bits", "8", "--calib-data", data, "--out", q);
        assertEquals(0, r.code(), r.err());
        r = CliRun.run("evaluate", "--model", q, "--data", data, "--report", rep);
        assertEquals(0, r.code(), r.err());
        JsonNode report = new ObjectMapper().readTree(new File(rep));
        assertEquals("integer", report.get("accuracy_path").asText(), report.toString());
        assertTrue(report.get("accuracy").asDouble() >= 5.0 / 6, "int8 agrees with float on the rows: " + report);
        r = CliRun.run("export", "--model", h5, "--format", "onnx", "--out", onnx);
        assertEquals(0, r.code(), r.err());
        var ort = io.squeeze.artifact.OnnxExportTest.runOnnx(java.nio.file.Files.readAllBytes(new File(onnx).toPath()),
                new io.squeeze.artifact.OnnxExportTest.Rows(x, new int[n], n, 64));
        io.squeeze.artifact.OnnxExportTest.assertClose(out.dup('c').data().asFloat(), ort.get("output"), "ONNX Runtime vs the imported CNN");
        // and structured pruning shrinks its convolutions (through the pooling and the flatten) to what the masks compute
        String[] ln = {"prune", "--model", h5, "--method", "ln", "--dim", "out", "--amount", "0.5", "--layers", "0,2"};
        String masked = new File(dir, "masked").getPath(), shrunk = new File(dir, "shrunk").getPath();
        assertEquals(0, CliRun.run(CliRun.with(ln, "--out", masked)).code());
        r = CliRun.run(CliRun.with(ln, "--shrink", "--out", shrunk));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("shrink layer 0: channels 4 -> 2") && r.err().contains("shrink layer 2: channels 3 -> 1"), r.err());
        var st = new Storage(new Configuration());
        INDArray in = Nd4j.create(x, new long[]{n, 64}, 'c');
        INDArray ym = Models.load(st, masked).net().output(in), ys = Models.load(st, shrunk).net().output(in);
        assertEquals(0, ym.sub(ys).amax().getDouble(0), 1e-5, "shrunk = masked");
    }


    @Test
    void theSameCnnWrittenWithTheFunctionalApiImportsWithNumpysOutputs() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/keras-cnn-expected.json"));
        LoadedModel m = Models.load(new Storage(new Configuration()), new File("src/test/resources/keras/keras-cnn-functional.h5").getAbsolutePath());
        assertArrayEquals(new int[]{8, 8, 1}, m.meta().inputShape());
        assertNumpyOutputs(m, ref, 64);
    }

    /** The committed Keras residual model (an add, a concatenation, BN), imported as a graph. */
    public static org.deeplearning4j.nn.graph.ComputationGraph residual() {
        return Models.load(new Storage(new Configuration()), new File("src/test/resources/keras/functional-residual.h5").getAbsolutePath(), true).graph();
    }

    /** The reference inputs, {@code width} features a row, row-major. */
    static float[] inputs(JsonNode ref, int width) {
        int n = ref.get("inputs").size();
        float[] x = new float[n * width];
        for (int i = 0; i < n; i++) for (int j = 0; j < width; j++) x[i * width + j] = (float) ref.get("inputs").get(i).get(j).asDouble();
        return x;
    }

    /** The reference inputs as CSV rows, each labelled with the class NumPy's output ranks first. */
    public static String labelledCsv(JsonNode ref) {
        StringBuilder csv = new StringBuilder();
        for (int r = 0; r < ref.get("inputs").size(); r++) {
            for (JsonNode v : ref.get("inputs").get(r)) csv.append(v.asDouble()).append(',');
            JsonNode p = ref.get("outputs").get(r);
            int label = 0;
            for (int k = 1; k < p.size(); k++) if (p.get(k).asDouble() > p.get(label).asDouble()) label = k;
            csv.append(label).append('\n');
        }
        return csv.toString();
    }

    /** {@code m}'s outputs for the reference inputs, asserted equal to NumPy's to 1e-5. */
    static INDArray assertNumpyOutputs(LoadedModel m, JsonNode ref, int width) {
        int n = ref.get("inputs").size();
        INDArray out = m.net().output(Nd4j.create(inputs(ref, width), new long[]{n, width}, 'c'));
        for (int i = 0; i < n; i++)
            for (int k = 0; k < ref.get("outputs").get(i).size(); k++)
                assertEquals(ref.get("outputs").get(i).get(k).asDouble(), out.getDouble(i, k), 1e-5, "row " + i + " class " + k);
        return out;
    }

    @Test
    void anImportIsTheSameConfigurationOnEveryRun() throws Exception {
        // DL4J's importer seeds every layer with the clock; the stored configuration must not depend on it
        for (String h5 : new String[]{H5, new File("src/test/resources/keras/functional-chain.h5").getAbsolutePath()}) {
            String first = Models.load(new Storage(new Configuration()), h5).net().getLayerWiseConfigurations().toJson();
            Thread.sleep(5);
            String again = Models.load(new Storage(new Configuration()), h5).net().getLayerWiseConfigurations().toJson();
            assertEquals(first, again, h5);
        }
    }

    @Test
    void inspectAndBadH5() throws Exception {
        CliRun r = CliRun.run("inspect", "--model", H5, "--json");
        assertEquals(0, r.code(), r.err());
        assertEquals("keras_h5", new ObjectMapper().readTree(r.out()).get("kind").asText());
        File bad = File.createTempFile("bad", ".h5", new File("target"));
        java.nio.file.Files.writeString(bad.toPath(), "not hdf5");
        CliRun b = CliRun.run("inspect", "--model", bad.getPath());
        assertEquals(2, b.code());
        assertTrue(b.lastErr().endsWith(".h5 is not a Keras .h5 file (no HDF5 signature); is it corrupt?"), b.lastErr());
        assertEquals(1, b.err().strip().lines().count(), "no HDF5 diagnostics: " + b.err());
    }
    @Test
    void aFunctionalChainWithBatchNormalizationImportsWithNumpysOutputsAndFoldsForTheIntegerRuntime() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/functional-chain-expected.json"));
        LoadedModel m = Models.load(new Storage(new Configuration()), new File("src/test/resources/keras/functional-chain.h5").getAbsolutePath());
        assertEquals(SourceKind.KERAS_H5, m.kind());
        assertEquals(java.util.List.of("hidden", "bn", "relu", "out"), java.util.stream.IntStream.range(0, m.net().getnLayers())
                .mapToObj(i -> m.net().getLayer(i).conf().getLayer().getLayerName()).toList());
        int n = ref.get("inputs").size();
        float[] x = new float[n * 6];
        for (int i = 0; i < n; i++) for (int j = 0; j < 6; j++) x[i * 6 + j] = (float) ref.get("inputs").get(i).get(j).asDouble();
        INDArray out = m.net().output(Nd4j.create(x, new long[]{n, 6}, 'c'));
        var cfg = new io.squeeze.quantize.QuantConfig(io.squeeze.quantize.QuantConfig.Mode.STATIC, io.squeeze.quantize.QuantConfig.Precision.INT8,
                io.squeeze.quantize.QuantConfig.Granularity.CHANNEL, io.squeeze.quantize.QuantConfig.Scheme.SYMMETRIC, false,
                new io.squeeze.quantize.Observer.MinMax(), java.util.List.of());
        float[] ops = new io.squeeze.quantize.QuantRunner(io.squeeze.quantize.QuantizedModel.quantizeWeights(NetOps.of(m.net()), cfg, java.util.Map.of()))
                .run(x, n, 6, io.squeeze.quantize.QuantRunner.Path.FLOAT, null);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) {
                double want = ref.get("outputs").get(i).get(c).asDouble();
                assertEquals(want, out.getDouble(i, c), 1e-5, "DL4J: row " + i + " class " + c);
                assertEquals(want, ops[i * 3 + c], 1e-5, "folded ops: row " + i + " class " + c);
            }
    }

    @Test
    void aKerasLstmSequenceClassifierImportsAsSqueezesLstmsWithNumpysOutputsAndIsPrunedAndQuantized() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/keras-lstm-expected.json"));
        String h5 = new File("src/test/resources/keras/keras-lstm.h5").getAbsolutePath();
        LoadedModel m = Models.load(new Storage(new Configuration()), h5);
        var c = m.net().getLayerWiseConfigurations();
        assertEquals(3, c.getConfs().size());
        for (int i = 0; i < 2; i++) {
            var l = assertInstanceOf(org.deeplearning4j.nn.conf.layers.LSTM.class, c.getConf(i).getLayer(), "layer " + i + " unwrapped");
            assertEquals(org.deeplearning4j.nn.conf.RNNFormat.NWC, l.getRnnDataFormat());
        }
        assertEquals("lstm_2", c.getConf(1).getLayer().getLayerName());
        assertInstanceOf(SequenceRows.class, c.getInputPreProcess(0));
        assertNull(c.getInputPreProcess(1));
        assertInstanceOf(LastStep.class, c.getInputPreProcess(2));
        assertEquals(15, m.meta().numFeatures());
        assertNumpyOutputs(m, ref, 15);

        // every LSTM technique takes it: whole units pruned across the four gates and shrunk, dynamic int8 near NumPy
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory(java.nio.file.Path.of("target"), "keras-lstm");
        String data = "csv:" + java.nio.file.Files.writeString(dir.resolve("in.csv"), labelledCsv(ref));
        CliRun p = CliRun.run("prune", "--model", h5, "--method", "ln", "--amount", "0:0.5", "--shrink", "--out", dir.resolve("pruned").toString());
        assertEquals(0, p.code(), p.err());
        var pm = io.squeeze.artifact.Artifact.load(new Storage(new Configuration()), dir.resolve("pruned").toString()).model();
        assertEquals(3, ((org.deeplearning4j.nn.conf.layers.LSTM) pm.net().getLayer(0).conf().getLayer()).getNOut(), "3 of lstm_1's 6 units left");
        assertDynamicInt8NearNumpy(h5, data, dir);
    }

    @Test
    void aKerasSimpleRnnSequenceClassifierImportsWithNumpysOutputsAndIsPrunedQuantizedAndFactorized() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/keras-rnn-expected.json"));
        String h5 = new File("src/test/resources/keras/keras-rnn.h5").getAbsolutePath();
        LoadedModel m = Models.load(new Storage(new Configuration()), h5);
        var c = m.net().getLayerWiseConfigurations();
        assertEquals(3, c.getConfs().size());
        for (int i = 0; i < 2; i++) {
            var l = assertInstanceOf(org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn.class, c.getConf(i).getLayer(), "layer " + i + " unwrapped");
            assertEquals(org.deeplearning4j.nn.conf.RNNFormat.NWC, l.getRnnDataFormat());
        }
        assertEquals("simple_rnn_2", c.getConf(1).getLayer().getLayerName());
        assertInstanceOf(LastStep.class, c.getInputPreProcess(2));
        assertNumpyOutputs(m, ref, 15);

        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory(java.nio.file.Path.of("target"), "keras-rnn");
        String data = "csv:" + java.nio.file.Files.writeString(dir.resolve("in.csv"), labelledCsv(ref));
        CliRun p = CliRun.run("prune", "--model", h5, "--method", "ln", "--amount", "0:0.5", "--shrink", "--out", dir.resolve("pruned").toString());
        assertEquals(0, p.code(), p.err());
        var pm = io.squeeze.artifact.Artifact.load(new Storage(new Configuration()), dir.resolve("pruned").toString()).model();
        assertArrayEquals(new long[]{3, 3}, pm.net().getLayer(0).getParam("RW").shape(), "3 of simple_rnn_1's 6 units left");
        assertDynamicInt8NearNumpy(h5, data, dir);
        // rank 2 saves weights only in simple_rnn_1's RW [6, 6] (2·12 < 36; W [3, 6] would need 18 = 18): factored in place
        CliRun f = CliRun.run("factorize", "--model", h5, "--rank", "0:2", "--eval-data", data, "--out", dir.resolve("lowrank").toString());
        assertEquals(0, f.code(), f.err());
        var fm = io.squeeze.artifact.Artifact.load(new Storage(new Configuration()), dir.resolve("lowrank").toString()).model();
        var fl = assertInstanceOf(FactoredSimpleRnn.class, fm.net().getLayer(0).conf().getLayer());
        assertEquals(List.of(0, 2), List.of(fl.getInRank(), fl.getRecRank()));
        var rw = m.net().getLayer(0).getParam("RW");
        var approx = fm.net().getLayer(0).getParam("RWA").mmul(fm.net().getLayer(0).getParam("RWB"));
        assertTrue(rw.sub(approx).norm2Number().doubleValue() < rw.norm2Number().doubleValue(), "a rank-2 approximation of RW");
        assertEquals(m.net().getLayer(0).getParam("W"), fm.net().getLayer(0).getParam("W"));
    }

    /** {@code h5} quantized dynamically to int8 labels at least 7 of the 8 rows of {@code data} (NumPy's classes) in integer arithmetic. */
    static void assertDynamicInt8NearNumpy(String h5, String data, java.nio.file.Path dir) throws Exception {
        CliRun q = CliRun.run("quantize", "--model", h5, "--mode", "dynamic", "--bits", "8", "--out", dir.resolve("int8").toString());
        assertEquals(0, q.code(), q.err());
        String rep = dir.resolve("rep.json").toString();
        CliRun e = CliRun.run("evaluate", "--model", dir.resolve("int8").toString(), "--data", data, "--baseline", h5, "--report", rep);
        assertEquals(0, e.code(), e.err());
        JsonNode report = new ObjectMapper().readTree(new File(rep));
        assertEquals("integer", report.get("accuracy_path").asText(), report.toString());
        assertEquals(1.0, report.get("baseline").get("accuracy").asDouble(), 0.0, "the float import labels NumPy's classes");
        assertTrue(report.get("accuracy").asDouble() >= 7 / 8.0, "dynamic int8 of " + h5 + ": " + report);
    }

    @Test
    void aFunctionalChainGoesThroughQuantizeAndPrune() throws Exception {
        String h5 = new File("src/test/resources/keras/functional-chain.h5").getAbsolutePath();
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory(java.nio.file.Path.of("target"), "keras-functional");
        CliRun q = CliRun.run("quantize", "--model", h5, "--mode", "dynamic", "--bits", "8", "--out", dir.resolve("int8").toString());
        assertEquals(0, q.code(), q.err());
        assertTrue(q.err().contains("batch normalization layer 1 folded into layer 0"), q.err());
        var a = io.squeeze.artifact.Artifact.load(new Storage(new Configuration()), dir.resolve("int8").toString());
        assertEquals(3, a.model().net().getnLayers(), "hidden (with bn), relu, out");
        assertEquals("quantize:int8", a.manifest().layers().get(0).method());
        CliRun p = CliRun.run("prune", "--model", h5, "--method", "l1", "--amount", "0.5", "--out", dir.resolve("pruned").toString());
        assertEquals(0, p.code(), p.err());
        var pm = io.squeeze.artifact.Artifact.load(new Storage(new Configuration()), dir.resolve("pruned").toString()).model();
        assertEquals(15, pm.masks().get(io.squeeze.core.TensorKey.weights(0)).prunedCount(), "half of hidden's 30 weights");
    }

    @Test
    void aFunctionalModelWithAResidualAddAConcatenationAndBatchNormalizationRunsAsAGraphWithNumpysOutputs() throws Exception {
        String h5 = new File("src/test/resources/keras/functional-residual.h5").getAbsolutePath();
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/functional-residual-expected.json"));
        LoadedModel m = ModelIO.loadFile(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(h5), true);
        assertTrue(m.isGraph());
        assertEquals(6, m.meta().numFeatures());
        assertEquals(3, m.meta().numClasses());
        int n = ref.get("inputs").size();
        float[] x = inputs(ref, 6);
        INDArray out = m.graph().outputSingle(false, Nd4j.create(x, new long[]{n, 6}, 'c'));
        float[] logits = Logits.of(m.graph(), x, n, 6);
        for (int i = 0; i < n; i++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int k = 0; k < 3; k++) max = Math.max(max, logits[i * 3 + k]);
            for (int k = 0; k < 3; k++) sum += Math.exp(logits[i * 3 + k] - max);
            for (int k = 0; k < 3; k++) {
                double want = ref.get("outputs").get(i).get(k).asDouble();
                assertEquals(want, out.getDouble(i, k), 1e-5, "row " + i + " class " + k);
                assertEquals(want, Math.exp(logits[i * 3 + k] - max) / sum, 1e-5, "softmax of the logits, row " + i + " class " + k);
            }
        }
        // evaluate runs it (NumPy's top class as the label: every row right); inspect lists the merges
        java.nio.file.Path csv = java.nio.file.Files.writeString(dir.resolve("residual.csv"), labelledCsv(ref));
        String rep = dir.resolve("residual-report.json").toString();
        CliRun e = CliRun.run("evaluate", "--model", h5, "--data", "csv:" + csv, "--report", rep);
        assertEquals(0, e.code(), e.err());
        assertEquals(1.0, new ObjectMapper().readTree(new File(rep)).get("accuracy").asDouble(), 0.0);
        CliRun i = CliRun.run("inspect", "--model", h5);
        assertEquals(0, i.code(), i.err());
        assertTrue(i.out().contains("merge  add (ElementWiseVertex Add) of d1, bn2"), i.out());
        assertTrue(i.out().contains("merge  concat (MergeVertex) of left, right"), i.out());
    }

    @Test
    void aKerasFileBranchesWhenItsConfigHasAMergeOrAForkReadWithoutImportingIt() {
        Storage st = new Storage(new Configuration());
        java.util.function.Predicate<String> branches = f -> ModelIO.isBranchingGraph(st, new org.apache.hadoop.fs.Path(new File("src/test/resources/keras/" + f).getAbsolutePath()));
        assertTrue(branches.test("functional-residual.h5"));
        assertFalse(branches.test("functional-chain.h5"), "a functional chain is a layer stack");
        assertFalse(branches.test("keras-cnn.h5"), "Sequential");
        assertFalse(branches.test("keras-cnn-functional.h5"));
    }

    @Test
    void theResidualKerasModelGetsLoraAdaptersOnItsDenseVerticesMergedIntoAGraphZip() throws Exception {
        String h5 = new File("src/test/resources/keras/functional-residual.h5").getAbsolutePath();
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/functional-residual-expected.json"));
        String data = "csv:" + java.nio.file.Files.writeString(dir.resolve("residual-lora.csv"), labelledCsv(ref).repeat(8));
        String out = dir.resolve("residual-lora.zip").toString();
        CliRun r = CliRun.run("lora", "--model", h5, "--data", data, "--rank", "2", "--alpha", "4", "--epochs", "3", "--lr", "0.05", "--merge",
                "--eval-data", data, "--out", out);
        assertEquals(0, r.code(), r.err());
        // d1, d2 (6x6), left (6x4), right (6x2): 2·(6+6) + 2·(6+6) + 2·(6+4) + 2·(6+2) adapter weights
        assertTrue(r.err().contains("lora: rank 2 on vertices [d1, d2, left, right]: 84 trainable parameters"), r.err());
        assertTrue(r.err().contains("train: epoch 3 validation accuracy"), r.err());
        LoadedModel base = Models.load(new Storage(new Configuration()), h5, true), merged = ModelIO.loadFile(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(out), true);
        assertTrue(merged.isGraph());
        assertEquals(base.graph().getConfiguration().getVertices().keySet(), merged.graph().getConfiguration().getVertices().keySet());
        for (String v : List.of("d1", "d2", "left", "right")) {
            INDArray delta = merged.graph().getLayer(v).getParam("W").sub(base.graph().getLayer(v).getParam("W"));
            assertTrue(delta.norm2Number().doubleValue() > 1e-4, v + " adapted");
            double[] sv = io.squeeze.lowrank.Svd.singularValues(delta.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE));
            if (sv.length > 2) assertTrue(sv[2] < 1e-3 * sv[0], v + ": the update has rank 2, singular values " + java.util.Arrays.toString(sv));
            assertEquals(base.graph().getLayer(v).getParam("b"), merged.graph().getLayer(v).getParam("b"), v + "'s bias frozen");
        }
        assertEquals(base.graph().getLayer("out").params(), merged.graph().getLayer("out").params(), "the output layer is frozen");
        assertEquals(base.graph().getLayer("bn2").getParam("gamma"), merged.graph().getLayer("bn2").getParam("gamma"), "batch normalization's scale frozen");
        assertEquals(base.graph().getLayer("bn2").getParam("beta"), merged.graph().getLayer("bn2").getParam("beta"), "and its shift");
        // its running statistics follow the data it trains on (PyTorch's train mode does the same), d2's output having changed
        assertNotEquals(base.graph().getLayer("bn2").getParam("mean"), merged.graph().getLayer("bn2").getParam("mean"));
        // without --merge: an adapter artifact (A and B by vertex, and the running statistics training moved) that the
        // base with its adapters reads back as the graph the same command merges
        String adapters = dir.resolve("residual-lora-adapters").toString();
        CliRun a = CliRun.run("lora", "--model", h5, "--data", data, "--rank", "2", "--alpha", "4", "--epochs", "3", "--lr", "0.05",
                "--eval-data", data, "--out", adapters);
        assertEquals(0, a.code(), a.err());
        assertTrue(a.out().contains("adapter artifact"), a.out());
        Storage st = new Storage(new Configuration());
        var art = io.squeeze.artifact.Artifact.load(st, adapters);
        assertEquals(3, art.manifest().formatVersion());
        assertTrue(Models.isGraph(st, st.path(adapters)));
        assertEquals(List.of("bn2", "d1", "d2", "left", "right"), art.manifest().layers().stream().map(io.squeeze.artifact.Manifest.LayerRecord::name).sorted().toList(),
                "the adapted vertices and the normalizations whose statistics moved");
        float[][] rows = new float[ref.get("inputs").size()][6];
        for (int i = 0; i < rows.length; i++) for (int j = 0; j < 6; j++) rows[i][j] = (float) ref.get("inputs").get(i).get(j).asDouble();
        INDArray x = Nd4j.create(rows);
        assertEquals(merged.graph().params(), art.model().graph().params(), "the seeded command gives the same adapters; read back they are the merged graph");
        assertEquals(merged.graph().outputSingle(false, x), art.model().graph().outputSingle(false, x));
        CliRun zipOut = CliRun.run("lora", "--model", h5, "--data", data, "--rank", "2", "--epochs", "1", "--out", dir.resolve("never.zip").toString());
        assertEquals(2, zipOut.code());
        assertTrue(zipOut.err().contains("without --merge writes an adapter artifact directory"), zipOut.err());
    }

    @Test
    void theResidualKerasModelIsQuantizedToInt8WithItsAddAndConcatenationInIntegersNearNumpysOutputs() throws Exception {
        String h5 = new File("src/test/resources/keras/functional-residual.h5").getAbsolutePath();
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/functional-residual-expected.json"));
        int n = ref.get("inputs").size();
        java.nio.file.Path csv = java.nio.file.Files.writeString(dir.resolve("residual-q.csv"), labelledCsv(ref));
        String out = dir.resolve("residual-int8.zip").toString();
        CliRun q = CliRun.run("quantize", "--model", h5, "--mode", "static", "--calib-data", "csv:" + csv, "--local", "--out", out);
        assertEquals(0, q.code(), q.err());
        assertTrue(q.err().contains("bn2 into d2") && q.err().contains(" folded\n"), q.err());
        assertTrue(q.out().contains("concat             {op=concat, output_qparams="), q.out());
        var loaded = io.squeeze.artifact.QuantizedGraphZip.read(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(out));
        var qm = loaded.quant();
        assertEquals(List.of("d1", "d2", "add", "left", "right", "concat", "out"),
                GraphOps.of(loaded.model().graph(), "test").nodes().stream().map(GraphOps.Node::name).toList());
        float[] x = inputs(ref, 6);
        float[] f = new io.squeeze.quantize.QuantRunner(qm).run(x, n, 6, io.squeeze.quantize.QuantRunner.Path.FLOAT, null);
        float[] i8 = new io.squeeze.quantize.QuantRunner(qm).run(x, n, 6, io.squeeze.quantize.QuantRunner.Path.INTEGER, null);
        double worst = 0;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 3; k++) {
                double want = ref.get("outputs").get(i).get(k).asDouble();
                assertEquals(want, f[i * 3 + k], 1e-5, "the folded float nodes, row " + i);
                worst = Math.max(worst, Math.abs(want - i8[i * 3 + k]));
            }
        assertTrue(worst < 0.03, "int8 probabilities within 0.03 of NumPy's, worst " + worst);
        assertTrue(worst > 0, "the integer path rounds");
    }

    @Test
    void theResidualKerasModelIsPrunedByChannelGroupsAndFactorizedKeepingNumpysOutputs() throws Exception {
        String h5 = new File("src/test/resources/keras/functional-residual.h5").getAbsolutePath();
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/functional-residual-expected.json"));
        int n = ref.get("inputs").size();
        INDArray x = Nd4j.create(inputs(ref, 6), new long[]{n, 6}, 'c');
        LoadedModel m = ModelIO.loadFile(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(h5), true);
        // Keras' BN after a dense layer, imported NHWC, is marked NCHW (DL4J's oneDNN helper fails on it otherwise)
        assertEquals(org.deeplearning4j.nn.conf.CNN2DFormat.NCHW,
                ((org.deeplearning4j.nn.conf.layers.BatchNormalization) m.graph().getLayer("bn2").conf().getLayer()).getCnn2DFormat());
        // the add ties d1 and bn2's dense d2 into one group; left and right are groups of their own, out is the output
        var groups = io.squeeze.prune.ChannelGroups.of(m.graph(), "keras");
        assertEquals(List.of("d1+d2", "left", "right", "out"), groups.groups().stream().map(io.squeeze.prune.ChannelGroups.Group::name).toList());
        // full-rank factors of every dense layer: NumPy's outputs still
        java.util.Map<Integer, Factorization.Factors> all = new java.util.TreeMap<>();
        for (int i = 0; i < m.graph().getLayers().length; i++) {
            var w = m.graph().getLayers()[i].paramTable().get("W");
            if (w == null) continue;
            all.put(i, io.squeeze.lowrank.LayerFactors.factor(w.dup('c').data().asFloat(), (int) w.rows(), (int) w.columns(),
                    (int) Math.min(w.rows(), w.columns()), new io.squeeze.lowrank.SvdMethod.Exact()).factors());
        }
        INDArray factored = GraphFactorization.rewrite(m.graph(), all).outputSingle(false, x);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 3; k++) assertEquals(ref.get("outputs").get(i).get(k).asDouble(), factored.getDouble(i, k), 1e-5, "factorized, row " + i);
        // pruned by the command: half of each group's channels removed, what the masked twin computes
        String out = dir.resolve("residual-half.zip").toString();
        CliRun r = CliRun.run("prune", "--model", h5, "--method", "ln", "--norm", "2", "--amount", "0.5", "--shrink", "--out", out);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("prune: group d1+d2: channels 6 -> 3"), r.err());
        var twin = m.graph().clone();
        io.squeeze.prune.GroupPruning.zero(twin, groups, io.squeeze.prune.GroupPruning.choose(twin, groups, io.squeeze.prune.Amount.fraction(0.5),
                io.squeeze.prune.PruneMethod.Norm.L2));
        var shrunk = ModelIO.loadFile(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(out), true).graph();
        assertArrayEquals(twin.outputSingle(false, x).data().asFloat(), shrunk.outputSingle(false, x).data().asFloat(), 1e-5f);
    }

    @Test
    void aFunctionalModelWithAResidualAddAndAConcatenationIsRefusedNamingThemWhereALayerStackIsRequired() {
        // every command takes graphs now; code that needs a layer stack loads without graphs and gets this refusal
        String h5 = new File("src/test/resources/keras/functional-residual.h5").getAbsolutePath();
        BadInputException e = assertThrows(BadInputException.class, () -> Models.load(new Storage(new Configuration()), h5));
        assertTrue(e.getMessage().endsWith("functional-residual.h5 is a graph, not a chain of layers, which Squeeze does not compress yet: "
                + "'d1' feeds 2 vertices (d2, add); 'add' (ElementWiseVertex Add) joins d1, bn2; 'add' feeds 2 vertices (left, right); "
                + "'concat' (MergeVertex) joins left, right (" + Graphs.COMMANDS + ")"), e.getMessage());
    }
}
