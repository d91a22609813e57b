package io.squeeze.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.artifact.Models;
import io.squeeze.artifact.OnnxExportTest;
import io.squeeze.cli.CliRun;
import io.squeeze.core.Storage;
import io.squeeze.quantize.QuantRunner;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Keras CNNs on three-channel (RGB) {@code channels_last} inputs, written by committed generators
 * (src/test/resources/keras/make_keras_cnn_h5.py: a Sequential CNN with a flatten; make_keras_resnet_h5.py: a
 * functional CNN with a residual add, a channel concatenation, batch normalizations and a global average pooling),
 * read on the rows a Keras user's {@code (batch, h, w, c)} arrays flatten to: imported channels-first with an
 * {@link HwcRows} input, NumPy's outputs from DL4J, the integer runtime, ONNX Runtime, pruning and factorization.
 */
public class KerasRgbCnnTest {
    @org.junit.jupiter.api.io.TempDir
    static Path dir;

    static final String STACK = new File("src/test/resources/keras/keras-cnn-rgb.h5").getAbsolutePath();
    static final String GRAPH = new File("src/test/resources/keras/keras-resnet-rgb.h5").getAbsolutePath();
    static final String FLATTEN = new File("src/test/resources/keras/keras-resnet-rgb-flatten.h5").getAbsolutePath();
    static final int WIDTH = 8 * 8 * 3;

    static JsonNode ref(String name) throws Exception {
        return new ObjectMapper().readTree(new File("src/test/resources/keras/" + name));
    }

    static void assertNumpy(JsonNode ref, float[] probabilities, double tolerance, String what) {
        for (int i = 0; i < ref.get("outputs").size(); i++)
            for (int k = 0; k < 3; k++)
                assertEquals(ref.get("outputs").get(i).get(k).asDouble(), probabilities[i * 3 + k], tolerance, what + ", row " + i + " class " + k);
    }

    static float[] flat(INDArray a) {
        return a.dup('c').data().asFloat();
    }

    @Test
    void hwcRowsAreImagesChannelsFirstBothWaysAndSurviveJson() throws Exception {
        HwcRows p = new HwcRows(2, 3, 2);
        // row (y, x, k) = 100y + 10x + k
        float[] row = new float[12];
        for (int y = 0; y < 2; y++) for (int x = 0; x < 3; x++) for (int k = 0; k < 2; k++) row[(y * 3 + x) * 2 + k] = 100 * y + 10 * x + k;
        var ws = org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces();
        INDArray img = p.preProcess(Nd4j.create(row, new long[]{1, 12}, 'c'), 1, ws);
        assertArrayEquals(new long[]{1, 2, 2, 3}, img.shape());
        for (int k = 0; k < 2; k++) for (int y = 0; y < 2; y++) for (int x = 0; x < 3; x++)
            assertEquals(100 * y + 10 * x + k, img.getFloat(0, k, y, x), 0f, "channel " + k + " pixel " + y + "," + x);
        assertArrayEquals(row, flat(p.backprop(img, 1, ws)), 0f);
        var op = new NetOps.Reshape(0, true, true, 2, 2, 3);
        int[] src = op.sourceIndex();
        for (int i = 0; i < 12; i++) assertEquals(flat(img)[i], row[src[i]], 0f);
        var mapper = org.deeplearning4j.nn.conf.NeuralNetConfiguration.mapper();
        assertEquals(p, mapper.readValue(mapper.writeValueAsString(p), org.deeplearning4j.nn.conf.InputPreProcessor.class));
    }

    @Test
    void aSequentialRgbCnnReadsKerasRowsWithNumpysOutputsEverywhere() throws Exception {
        JsonNode ref = ref("keras-cnn-rgb-expected.json");
        int n = ref.get("inputs").size();
        float[] x = KerasImportTest.inputs(ref, WIDTH);
        LoadedModel m = Models.load(new Storage(new Configuration()), STACK);
        assertArrayEquals(new int[]{8, 8, 3}, m.meta().inputShape());
        assertEquals(WIDTH, m.meta().numFeatures());
        assertEquals(new HwcRows(8, 8, 3), m.net().getLayerWiseConfigurations().getInputPreProcess(0));
        INDArray out = KerasImportTest.assertNumpyOutputs(m, ref, WIDTH);
        // as executors rebuild it: the configuration through DL4J's JSON
        assertArrayEquals(flat(out), flat(NetPayload.of(m.net()).build().output(Nd4j.create(x, new long[]{n, WIDTH}, 'c'))), 0f);

        String data = "csv:" + Files.writeString(dir.resolve("stack.csv"), KerasImportTest.labelledCsv(ref));
        // augment --channels-last shifts these rows as images, every pixel's three channels together
        String aug = dir.resolve("stack-aug").toString();
        CliRun a = CliRun.run("augment", "--data", data, "--image", "8x8", "--channels-last", "--copies", "2", "--max-shift", "1", "--local", "--out", aug);
        assertEquals(0, a.code(), a.err());
        var shifted = io.squeeze.TestSpark.get().read().parquet(aug).collectAsList();
        assertEquals(2 * n, shifted.size());
        float[] row0 = java.util.Arrays.copyOfRange(x, 0, WIDTH), got = new float[WIDTH];
        for (int j = 0; j < WIDTH; j++) got[j] = ((Number) shifted.get(1).getList(0).get(j)).floatValue();
        assertArrayEquals(io.squeeze.data.Shift.copy(row0, 8, 8, 1, 7, 0, 1, true), got, 1e-6f);
        String onnx = dir.resolve("stack.onnx").toString();
        CliRun r = CliRun.run("export", "--model", STACK, "--format", "onnx", "--out", onnx);
        assertEquals(0, r.code(), r.err());
        var ort = OnnxExportTest.runOnnx(Files.readAllBytes(Path.of(onnx)), new OnnxExportTest.Rows(x, new int[n], n, WIDTH));
        OnnxExportTest.assertClose(flat(out), ort.get("output"), "ONNX Runtime vs the imported RGB CNN");

        String q = dir.resolve("stack-int8").toString();
        r = CliRun.run("quantize", "--model", STACK, "--mode", "static", "--calib-data", data, "--local", "--out", q);
        assertEquals(0, r.code(), r.err());
        var cfg = new io.squeeze.quantize.QuantConfig(io.squeeze.quantize.QuantConfig.Mode.STATIC, io.squeeze.quantize.QuantConfig.Precision.INT8,
                io.squeeze.quantize.QuantConfig.Granularity.CHANNEL, io.squeeze.quantize.QuantConfig.Scheme.SYMMETRIC, false,
                new io.squeeze.quantize.Observer.MinMax(), java.util.List.of());
        assertNumpy(ref, new QuantRunner(io.squeeze.quantize.QuantizedModel.quantizeWeights(NetOps.of(m.net()), cfg, java.util.Map.of()))
                .run(x, n, WIDTH, QuantRunner.Path.FLOAT, null), 1e-5, "the quantized runtime's float path");
        var qm = io.squeeze.artifact.Artifact.load(q);
        float[] i8 = new QuantRunner(qm.quant()).run(x, n, WIDTH, QuantRunner.Path.INTEGER, null);
        assertNumpy(ref, i8, 0.05, "int8");
        String qonnx = dir.resolve("stack-int8.onnx").toString();
        assertEquals(0, CliRun.run("export", "--model", q, "--format", "onnx", "--out", qonnx).code());
        var qort = OnnxExportTest.runOnnx(Files.readAllBytes(Path.of(qonnx)), new OnnxExportTest.Rows(x, new int[n], n, WIDTH));
        assertNumpy(ref, qort.get("output"), 0.05, "ONNX Runtime on the QDQ export");

        // structured pruning of the first convolution (whose input is the permuted image) shrinks to the masked twin
        String[] ln = {"prune", "--model", STACK, "--method", "ln", "--dim", "out", "--amount", "0.5", "--layers", "0"};
        String masked = dir.resolve("stack-masked").toString(), shrunk = dir.resolve("stack-shrunk").toString();
        assertEquals(0, CliRun.run(CliRun.with(ln, "--out", masked)).code());
        assertEquals(0, CliRun.run(CliRun.with(ln, "--shrink", "--out", shrunk)).code());
        var st = new Storage(new Configuration());
        INDArray in = Nd4j.create(x, new long[]{n, WIDTH}, 'c');
        assertArrayEquals(flat(Models.load(st, masked).net().output(in)), flat(Models.load(st, shrunk).net().output(in)), 1e-5f);
        assertEquals(2, Models.load(st, shrunk).net().getLayer(0).getParam("W").size(0), "half of 4 filters");
    }

    @Test
    void aFunctionalRgbResNetImportsAsAChannelsFirstGraphWithNumpysOutputsEverywhere() throws Exception {
        JsonNode ref = ref("keras-resnet-rgb-expected.json");
        int n = ref.get("inputs").size();
        float[] x = KerasImportTest.inputs(ref, WIDTH);
        INDArray in = Nd4j.create(x, new long[]{n, WIDTH}, 'c');
        var st = new Storage(new Configuration());
        LoadedModel m = ModelIO.loadFile(st, new org.apache.hadoop.fs.Path(GRAPH), true);
        ComputationGraph g = m.graph();
        assertArrayEquals(new int[]{8, 8, 3}, m.meta().inputShape());
        assertEquals(new HwcRows(8, 8, 3), ((org.deeplearning4j.nn.conf.graph.LayerVertex) g.getConfiguration().getVertices().get("stem")).getPreProcessor());
        for (String v : new String[]{"stem", "c1", "c2", "left", "right"})
            assertEquals(CNN2DFormat.NCHW, ((ConvolutionLayer) g.getLayer(v).conf().getLayer()).getCnn2dDataFormat(), v);
        INDArray out = g.outputSingle(false, in);
        assertNumpy(ref, flat(out), 1e-5, "DL4J");

        // evaluate (NumPy's top class as the label), ONNX Runtime on the float export
        String data = "csv:" + Files.writeString(dir.resolve("graph.csv"), KerasImportTest.labelledCsv(ref));
        String rep = dir.resolve("graph-report.json").toString();
        CliRun r = CliRun.run("evaluate", "--model", GRAPH, "--data", data, "--report", rep);
        assertEquals(0, r.code(), r.err());
        assertEquals(1.0, new ObjectMapper().readTree(new File(rep)).get("accuracy").asDouble(), 0.0);
        String onnx = dir.resolve("graph.onnx").toString();
        r = CliRun.run("export", "--model", GRAPH, "--format", "onnx", "--out", onnx);
        assertEquals(0, r.code(), r.err());
        OnnxExportTest.assertClose(flat(out), OnnxExportTest.runOnnx(Files.readAllBytes(Path.of(onnx)),
                new OnnxExportTest.Rows(x, new int[n], n, WIDTH)).get("output"), "ONNX Runtime vs the imported RGB ResNet");

        // static int8: the batch normalizations folded, the add and the concatenation in integers
        String q = dir.resolve("graph-int8.zip").toString();
        r = CliRun.run("quantize", "--model", GRAPH, "--mode", "static", "--calib-data", data, "--local", "--out", q);
        assertEquals(0, r.code(), r.err());
        var qm = io.squeeze.artifact.QuantizedGraphZip.read(st, new org.apache.hadoop.fs.Path(q)).quant();
        assertNumpy(ref, new QuantRunner(qm).run(x, n, WIDTH, QuantRunner.Path.FLOAT, null), 1e-5, "the folded float nodes");
        float[] i8 = new QuantRunner(qm).run(x, n, WIDTH, QuantRunner.Path.INTEGER, null);
        assertNumpy(ref, i8, 0.05, "int8");
        String qonnx = dir.resolve("graph-int8.onnx").toString();
        r = CliRun.run("export", "--model", q, "--format", "onnx", "--out", qonnx);
        assertEquals(0, r.code(), r.err());
        assertNumpy(ref, OnnxExportTest.runOnnx(Files.readAllBytes(Path.of(qonnx)), new OnnxExportTest.Rows(x, new int[n], n, WIDTH)).get("output"),
                0.05, "ONNX Runtime on the quantized graph");

        // channel groups: the add ties stem and c2 (through their BNs); shrunk = masked twin
        var groups = io.squeeze.prune.ChannelGroups.of(g, "keras");
        assertTrue(groups.groups().stream().anyMatch(gr -> gr.name().equals("stem+c2")), groups.groups().toString());
        String shrunk = dir.resolve("graph-half.zip").toString();
        r = CliRun.run("prune", "--model", GRAPH, "--method", "ln", "--norm", "2", "--amount", "0.5", "--shrink", "--out", shrunk);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("group stem+c2: channels 6 -> 3"), r.err());
        var twin = g.clone();
        io.squeeze.prune.GroupPruning.zero(twin, groups, io.squeeze.prune.GroupPruning.choose(twin, groups, io.squeeze.prune.Amount.fraction(0.5),
                io.squeeze.prune.PruneMethod.Norm.L2));
        assertArrayEquals(flat(twin.outputSingle(false, in)), flat(ModelIO.loadFile(st, new org.apache.hadoop.fs.Path(shrunk), true).graph().outputSingle(false, in)), 1e-5f);

        // factorized (each convolution as a kh×kw convolution to r channels then a 1×1): the graph computes what the
        // source computes with each kernel replaced by the product of its two factors, the stem's reading Keras rows
        String factored = dir.resolve("graph-factored.zip").toString();
        r = CliRun.run("factorize", "--model", GRAPH, "--rank", "stem:3,c1:3,right:1", "--layers", "stem,c1,right", "--local", "--out", factored);
        assertEquals(0, r.code(), r.err());
        ComputationGraph f = ModelIO.loadFile(st, new org.apache.hadoop.fs.Path(factored), true).graph();
        assertEquals(g.getNumLayers() + 3, f.getNumLayers(), "three convolutions as two each: " + r.out());
        assertEquals(new HwcRows(8, 8, 3), ((org.deeplearning4j.nn.conf.graph.LayerVertex) f.getConfiguration().getVertices().get("stem_a")).getPreProcessor());
        ComputationGraph product = g.clone();
        for (String v : new String[]{"stem", "c1", "right"}) {
            INDArray a = f.getLayer(v + "_a").getParam("W"), b = f.getLayer(v).getParam("W"); // [r, c, kh, kw], [out, r, 1, 1]
            INDArray w = b.reshape('c', b.size(0), b.size(1)).mmul(a.reshape('c', a.size(0), a.size(1) * a.size(2) * a.size(3)));
            product.getLayer(v).setParam("W", w.reshape('c', b.size(0), a.size(1), a.size(2), a.size(3)));
        }
        assertArrayEquals(flat(product.outputSingle(false, in)), flat(f.outputSingle(false, in)), 1e-5f);
    }

    @Test
    void aFunctionalRgbCnnEndingInAFlattenHasItsFlattenAsTheDenseLayersPreprocessor() throws Exception {
        JsonNode ref = ref("keras-resnet-rgb-flatten-expected.json");
        int n = ref.get("inputs").size();
        float[] x = KerasImportTest.inputs(ref, WIDTH);
        INDArray in = Nd4j.create(x, new long[]{n, WIDTH}, 'c');
        var st = new Storage(new Configuration());
        ComputationGraph g = ModelIO.loadFile(st, new org.apache.hadoop.fs.Path(FLATTEN), true).graph();
        // Keras' functional Flatten (a vertex of its own) is the output layer's preprocessor, channels first
        assertFalse(g.getConfiguration().getVertices().containsKey("flat"));
        var out = (org.deeplearning4j.nn.conf.graph.LayerVertex) g.getConfiguration().getVertices().get("out");
        assertEquals(new org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor(4, 4, 6, CNN2DFormat.NCHW), out.getPreProcessor());
        assertEquals(java.util.List.of("pool"), g.getConfiguration().getVertexInputs().get("out"));
        INDArray y = g.outputSingle(false, in);
        assertNumpy(ref, flat(y), 1e-5, "DL4J");

        String data = "csv:" + Files.writeString(dir.resolve("flatten.csv"), KerasImportTest.labelledCsv(ref));
        String onnx = dir.resolve("flatten.onnx").toString(), q = dir.resolve("flatten-int8.zip").toString();
        CliRun r = CliRun.run("export", "--model", FLATTEN, "--format", "onnx", "--out", onnx);
        assertEquals(0, r.code(), r.err());
        OnnxExportTest.assertClose(flat(y), OnnxExportTest.runOnnx(Files.readAllBytes(Path.of(onnx)),
                new OnnxExportTest.Rows(x, new int[n], n, WIDTH)).get("output"), "ONNX Runtime vs the imported CNN");
        r = CliRun.run("quantize", "--model", FLATTEN, "--mode", "static", "--calib-data", data, "--local", "--out", q);
        assertEquals(0, r.code(), r.err());
        var qm = io.squeeze.artifact.QuantizedGraphZip.read(st, new org.apache.hadoop.fs.Path(q)).quant();
        assertNumpy(ref, new QuantRunner(qm).run(x, n, WIDTH, QuantRunner.Path.FLOAT, null), 1e-5, "the folded float nodes");
        assertNumpy(ref, new QuantRunner(qm).run(x, n, WIDTH, QuantRunner.Path.INTEGER, null), 0.05, "int8");

        // pruning the concatenated channels takes their rows out of the flattened dense layer: shrunk = masked twin
        var groups = io.squeeze.prune.ChannelGroups.of(g, "keras");
        String shrunk = dir.resolve("flatten-half.zip").toString();
        r = CliRun.run("prune", "--model", FLATTEN, "--method", "ln", "--norm", "2", "--amount", "0.5", "--shrink", "--out", shrunk);
        assertEquals(0, r.code(), r.err());
        var twin = g.clone();
        io.squeeze.prune.GroupPruning.zero(twin, groups, io.squeeze.prune.GroupPruning.choose(twin, groups, io.squeeze.prune.Amount.fraction(0.5),
                io.squeeze.prune.PruneMethod.Norm.L2));
        ComputationGraph s = ModelIO.loadFile(st, new org.apache.hadoop.fs.Path(shrunk), true).graph();
        assertTrue(s.getLayer("out").getParam("W").size(0) < 96, "rows of pruned channels removed: " + r.err());
        assertArrayEquals(flat(twin.outputSingle(false, in)), flat(s.outputSingle(false, in)), 1e-5f);
    }

    @Test
    void paddingCroppingAndUpsamplingAreMadeChannelsFirstTooOrTheGraphWouldComputeSomethingElse() throws Exception {
        JsonNode ref = ref("keras-padding-rgb-expected.json");
        int n = ref.get("inputs").size();
        String h5 = new File("src/test/resources/keras/keras-padding-rgb.h5").getAbsolutePath();
        ComputationGraph g = ModelIO.loadFile(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(h5), true).graph();
        assertEquals(CNN2DFormat.NCHW, ((org.deeplearning4j.nn.conf.layers.ZeroPaddingLayer) g.getLayer("pad").conf().getLayer()).getDataFormat());
        assertEquals(CNN2DFormat.NCHW, ((org.deeplearning4j.nn.conf.layers.convolutional.Cropping2D) g.getLayer("crop").conf().getLayer()).getDataFormat());
        assertEquals(CNN2DFormat.NCHW, ((org.deeplearning4j.nn.conf.layers.Upsampling2D) g.getLayer("up").conf().getLayer()).getFormat());
        assertNumpy(ref, flat(g.outputSingle(false, Nd4j.create(KerasImportTest.inputs(ref, WIDTH), new long[]{n, WIDTH}, 'c'))), 1e-5, "DL4J");
        // evaluate runs it; the integer runtime does not take zero padding, and says where
        String data = "csv:" + Files.writeString(dir.resolve("padding.csv"), KerasImportTest.labelledCsv(ref));
        String rep = dir.resolve("padding.json").toString();
        assertEquals(0, CliRun.run("evaluate", "--model", h5, "--data", data, "--report", rep).code());
        assertEquals(1.0, new ObjectMapper().readTree(new File(rep)).get("accuracy").asDouble(), 0.0);
        CliRun r = CliRun.run("quantize", "--model", h5, "--mode", "static", "--calib-data", data, "--out", dir.resolve("padding-int8.zip").toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.lastErr().contains("'pad'") && r.lastErr().contains("ZeroPaddingLayer"), r.lastErr());
    }

    /** Rows of 8×8×3 Gaussian pixels in (height, width, channel) order, labelled by the channel of largest mean. */
    public static Path channelMeanCsv(Path file, int rows, long seed) throws Exception {
        java.util.Random r = new java.util.Random(seed);
        StringBuilder csv = new StringBuilder();
        for (int i = 0; i < rows; i++) {
            double[] mean = new double[3];
            for (int p = 0; p < 64; p++)
                for (int k = 0; k < 3; k++) {
                    float v = (float) r.nextGaussian();
                    mean[k] += v;
                    csv.append(v).append(',');
                }
            csv.append(mean[0] >= mean[1] && mean[0] >= mean[2] ? 0 : mean[1] >= mean[2] ? 1 : 2).append('\n');
        }
        return Files.writeString(file, csv);
    }

    @Test
    void aKerasModelsArchitectureTrainsAfreshOnSparkAndGivesLotteryTickets() throws Exception {
        String train = "csv:" + channelMeanCsv(dir.resolve("means-train.csv"), 8000, 1), test = "csv:" + channelMeanCsv(dir.resolve("means-test.csv"), 1000, 2);
        String out = dir.resolve("afresh.zip").toString(), rep = dir.resolve("afresh.json").toString();
        // eight epochs: the batch normalizations keep Keras' momentum (decay 0.99), and after four epochs their running
        // statistics still lag the weights (test accuracy 0.49 at this seed, 0.60-0.88 at others, training loss 0.4)
        CliRun r = CliRun.run("train", "--arch", GRAPH, "--data", train, "--epochs", "8", "--lr", "0.01", "--seed", "3", "--out", out);
        assertEquals(0, r.code(), r.err());
        var st = new Storage(new Configuration());
        ComputationGraph source = ModelIO.loadFile(st, new org.apache.hadoop.fs.Path(GRAPH), true).graph(),
                trained = ModelIO.loadFile(st, new org.apache.hadoop.fs.Path(out), true).graph();
        // the same vertices and input (Keras' rows), Adam at --lr, the file's weights not used
        assertEquals(source.getConfiguration().getVertexInputs(), trained.getConfiguration().getVertexInputs());
        assertEquals(new HwcRows(8, 8, 3), ((org.deeplearning4j.nn.conf.graph.LayerVertex) trained.getConfiguration().getVertices().get("stem")).getPreProcessor());
        assertEquals(new org.nd4j.linalg.learning.config.Adam(0.01).getLearningRate(),
                ((org.deeplearning4j.nn.conf.layers.BaseLayer) trained.getLayer("c1").conf().getLayer()).getIUpdater().getLearningRate(0, 0), 1e-12);
        assertNotEquals(source.getLayer("stem").getParam("W"), trained.getLayer("stem").getParam("W"));
        assertEquals(3, trained.getConfiguration().getDefaultConfiguration().getSeed(), "the graph initialised from --seed, not the clock");
        assertEquals(0, CliRun.run("evaluate", "--model", out, "--data", test, "--report", rep).code());
        double acc = new ObjectMapper().readTree(new File(rep)).get("accuracy").asDouble();
        assertTrue(acc > 0.7, "learned the channel-mean rule (chance 1/3): " + acc);
        // the same architecture as a lottery ticket's: two rounds prune 20 % of each hidden layer's weights each
        String ticket = dir.resolve("afresh-ticket").toString();
        r = CliRun.run("lottery", "--arch", STACK, "--data", train, "--test-data", test, "--epochs", "1", "--rounds", "2", "--lr", "0.01", "--out", ticket);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("64.") || r.out().contains("65."), "two rounds of 20 %: " + r.out());
        // a model file that is not there, data of the wrong width: one line each, before training
        r = CliRun.run("train", "--arch", dir.resolve("none.h5").toString(), "--data", train, "--epochs", "1", "--out", dir.resolve("never.zip").toString());
        assertEquals(2, r.code());
        assertTrue(r.lastErr().contains("none.h5 does not exist"), r.lastErr());
    }
}
