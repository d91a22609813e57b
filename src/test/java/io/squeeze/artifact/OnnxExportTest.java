package io.squeeze.artifact;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.squeeze.core.Storage;
import io.squeeze.model.Logits;
import io.squeeze.quantize.QuantRunner;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;

/**
 * Every fixture artifact kind (dense, factorized, shrunk, pruned, fp16, int8 static, int4, int8 dynamic, a LoRA
 * adapter) exported to ONNX and run in ONNX Runtime on the digits test set: float forms give Squeeze's logits to
 * 1e-5 relative, quantized forms Squeeze's integer-arithmetic outputs; the graph names its producer and source.
 * MNIST models (LeNet-300-100 and LeNet-5, int8) are in {@code cli.OnnxExportCliTest}.
 */
public class OnnxExportTest {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures/artifacts-v2");
    static final Storage ST = new Storage(new Configuration());

    /** The digits test set: 359 rows of 64 pixels (0..16) and their labels. */
    public record Rows(float[] x, int[] labels, int n, int features) {}

    public static Rows digits() throws IOException {
        List<String> lines;
        try (InputStream in = new GZIPInputStream(Files.newInputStream(Path.of("data/digits/digits-test.csv.gz")))) {
            lines = new String(in.readAllBytes()).lines().filter(l -> !l.isBlank()).toList();
        }
        float[] x = new float[lines.size() * 64];
        int[] y = new int[lines.size()];
        for (int r = 0; r < lines.size(); r++) {
            String[] c = lines.get(r).split(",");
            for (int j = 0; j < 64; j++) x[r * 64 + j] = Float.parseFloat(c[j]);
            y[r] = Integer.parseInt(c[64]);
        }
        return new Rows(x, y, lines.size(), 64);
    }

    /** The MNIST subset committed for the tests (make-subset.py): the first 3,000 training rows, all 10,000 test rows. */
    public static final String MNIST = "src/test/resources/mnist";

    /** Rows [0, n) of a split of the {@link #MNIST} subset (pixels / 255, as Squeeze's idx reader gives them). */
    public static Rows mnist(String split, int n) throws IOException {
        float[] x = new float[n * 784];
        int[] y = new int[n];
        try (var img = new DataInputStream(new GZIPInputStream(Files.newInputStream(Path.of(MNIST, split + "-images-idx3-ubyte.gz"))));
             var lab = new DataInputStream(new GZIPInputStream(Files.newInputStream(Path.of(MNIST, split + "-labels-idx1-ubyte.gz"))))) {
            img.skipNBytes(16);
            lab.skipNBytes(8);
            byte[] px = img.readNBytes(n * 784);
            if (px.length != n * 784) throw new IOException("the " + split + " subset has fewer than " + n + " rows");
            for (int i = 0; i < px.length; i++) x[i] = (px[i] & 0xff) / 255f;
            for (int r = 0; r < n; r++) y[r] = lab.readUnsignedByte();
        }
        return new Rows(x, y, n, 784);
    }

    /** ONNX Runtime's outputs ("logits", "output") for the rows, flattened row-major. */
    public static Map<String, float[]> runOnnx(byte[] model, Rows rows) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(1);
            if (Boolean.getBoolean("squeeze.ort.noopt")) o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
            try (OrtSession s = env.createSession(model, o);
                 OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(rows.x()), new long[]{rows.n(), rows.features()});
                 OrtSession.Result r = s.run(Map.of("input", in))) {
                return Map.of("logits", flat((float[][]) r.get("logits").get().getValue()),
                        "output", flat((float[][]) r.get("output").get().getValue()));
            }
        }
    }

    public static float[] flat(float[][] a) {
        float[] f = new float[a.length * a[0].length];
        for (int i = 0; i < a.length; i++) System.arraycopy(a[i], 0, f, i * a[i].length, a[i].length);
        return f;
    }

    public static int argmax(float[] v, int row, int width) {
        int best = 0;
        for (int j = 1; j < width; j++) if (v[row * width + j] > v[row * width + best]) best = j;
        return best;
    }

    /** The fraction of rows whose predicted class agrees. */
    public static double agreement(float[] a, float[] b, int rows, int width) {
        int same = 0;
        for (int r = 0; r < rows; r++) if (argmax(a, r, width) == argmax(b, r, width)) same++;
        return same / (double) rows;
    }

    public static double accuracy(float[] out, int[] labels, int width) {
        int ok = 0;
        for (int r = 0; r < labels.length; r++) if (argmax(out, r, width) == labels[r]) ok++;
        return ok / (double) labels.length;
    }

    /** |a - b| ≤ 1e-5 · max(1, |b|) element-wise. */
    public static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++)
            assertTrue(Math.abs(expected[i] - actual[i]) <= 1e-5 * Math.max(1, Math.abs(expected[i])),
                    what + " [" + i + "]: squeeze " + expected[i] + ", onnx runtime " + actual[i]);
    }

    /** Squeeze's own outputs: the float network's logits, and the integer path's output for a quantized model. */
    public static float[] squeezeIntegerOutput(Loaded m, Rows rows) {
        float[] x = m.model().meta().normalizer().appliedRows(rows.x().clone(), rows.n());
        return new QuantRunner(m.quant()).run(x, rows.n(), rows.features(), QuantRunner.Path.INTEGER, null);
    }

    @Test
    void everyFixtureKindRunsInOnnxRuntimeAsSqueezeComputesIt() throws Exception {
        Rows rows = digits();
        List<String> checked = new ArrayList<>();
        long denseBytes = 0, prunedBytes = 0;
        for (String name : List.of("dense", "factorized", "pruned-l1", "pruned-ln-shrunk", "fp16", "lora-adapter",
                "pruned-int8-static", "int4-affine-tensor", "int8-dynamic")) {
            Loaded m = Models.loadRunnable(ST, FIXTURES.resolve(name).toString());
            OnnxExport.Exported e = OnnxExport.export(m);
            OnnxMl.ModelProto proto = OnnxMl.ModelProto.parseFrom(e.bytes());
            assertEquals("squeeze", proto.getProducerName());
            assertEquals(OnnxExport.OPSET, proto.getOpsetImport(0).getVersion());
            assertEquals(m.model().sha256(), proto.getMetadataPropsList().stream()
                    .filter(p -> p.getKey().equals("squeeze.model_sha256")).findFirst().orElseThrow().getValue(), name);
            Map<String, float[]> ort = runOnnx(e.bytes(), rows);
            int classes = m.model().meta().numClasses();
            float[] x = m.model().meta().normalizer().appliedRows(rows.x().clone(), rows.n());
            boolean integer = m.quant() != null && m.quant().plan().hasIntegerLayers();
            if (!integer) {
                assertClose(Logits.of(m.model().net(), x, rows.n(), rows.features()), ort.get("logits"), name + " logits");
                float[] out = m.model().net().output(org.nd4j.linalg.factory.Nd4j.create(x, new long[]{rows.n(), rows.features()}, 'c'))
                        .dup('c').data().asFloat();
                assertClose(out, ort.get("output"), name + " output");
            } else {
                float[] sq = squeezeIntegerOutput(m, rows);
                double agree = agreement(sq, ort.get("output"), rows.n(), classes);
                assertTrue(agree >= 0.999, name + ": ONNX Runtime's int8 predictions agree with Squeeze's integer path on " + agree);
                assertEquals(accuracy(sq, rows.labels(), classes), accuracy(ort.get("output"), rows.labels(), classes), 0.0002, name);
            }
            if (name.equals("dense")) denseBytes = e.bytes().length;
            if (name.equals("pruned-l1")) {
                prunedBytes = e.bytes().length;
                assertTrue(e.sparseWeights() > 0, "70 % zeros: weights stored sparse");
            }
            assertEquals(name.equals("fp16") ? "float16 weights" : name.equals("int8-dynamic") ? "dynamic int8"
                    : name.contains("int") ? "static QDQ" : name.equals("pruned-l1") ? "float, sparse weights" : "float", e.form(), name);
            checked.add(name);
        }
        assertEquals(9, checked.size());
        assertTrue(prunedBytes < denseBytes, "pruned " + prunedBytes + " vs dense " + denseBytes);
    }

    /** A small conv net on the 8×8 digits, seeded, untrained. */
    private static io.squeeze.model.LoadedModel convNet() {
        var net = new org.deeplearning4j.nn.multilayer.MultiLayerNetwork(new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().seed(5)
                .dataType(org.nd4j.linalg.api.buffer.DataType.FLOAT).list()
                .layer(new org.deeplearning4j.nn.conf.layers.ConvolutionLayer.Builder(3, 3).nOut(6).activation(org.nd4j.linalg.activations.Activation.RELU).build())
                .layer(new org.deeplearning4j.nn.conf.layers.SubsamplingLayer.Builder(org.deeplearning4j.nn.conf.layers.SubsamplingLayer.PoolingType.MAX)
                        .kernelSize(2, 2).stride(2, 2).build())
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nOut(16).activation(org.nd4j.linalg.activations.Activation.RELU).build())
                .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder(org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction.MCXENT).nOut(10)
                        .activation(org.nd4j.linalg.activations.Activation.SOFTMAX).build())
                .setInputType(org.deeplearning4j.nn.conf.inputs.InputType.convolutionalFlat(8, 8, 1)).build());
        net.init();
        var meta = new io.squeeze.model.ModelMeta(64, 10, new int[]{8, 8, 1}, io.squeeze.data.Normalizer.NONE, "test");
        return new io.squeeze.model.LoadedModel(net, meta, "", "conv", io.squeeze.model.SourceKind.DL4J_ZIP, 0);
    }

    @Test
    void dynamicInt8ConvolutionsRunInOnnxRuntimeWithOneWeightZeroPoint() throws Exception {
        Rows rows = digits();
        var lm = convNet();
        var cfg = new io.squeeze.quantize.QuantConfig(io.squeeze.quantize.QuantConfig.Mode.DYNAMIC, io.squeeze.quantize.QuantConfig.Precision.INT8,
                io.squeeze.quantize.QuantConfig.Granularity.CHANNEL, io.squeeze.quantize.QuantConfig.Scheme.SYMMETRIC, false,
                new io.squeeze.quantize.Observer.MinMax(), List.of());
        Loaded m = new Loaded(lm, io.squeeze.quantize.QuantizedModel.quantizeWeights(io.squeeze.model.NetOps.of(lm.net()), cfg, Map.of()));
        OnnxExport.Exported e = OnnxExport.export(m);
        assertEquals("dynamic int8", e.form());
        var conv = OnnxMl.ModelProto.parseFrom(e.bytes()).getGraph().getNodeList().stream().filter(n -> n.getOpType().equals("ConvInteger")).findFirst().orElseThrow();
        var zp = OnnxMl.ModelProto.parseFrom(e.bytes()).getGraph().getInitializerList().stream().filter(t -> t.getName().equals(conv.getInput(3))).findFirst().orElseThrow();
        assertEquals(0, zp.getDimsCount(), "one weight zero point, as ONNX Runtime's ConvInteger requires");
        float[] ort = runOnnx(e.bytes(), rows).get("output"), sq = squeezeIntegerOutput(m, rows);
        double agree = agreement(sq, ort, rows.n(), 10);
        assertTrue(agree >= 0.99, "dynamic int8 conv net: ONNX Runtime agrees with Squeeze's integer path on " + agree);
        for (int i = 0; i < sq.length; i++) assertEquals(sq[i], ort[i], 0.02, "probability " + i);

        var affine = new io.squeeze.quantize.QuantConfig(io.squeeze.quantize.QuantConfig.Mode.DYNAMIC, io.squeeze.quantize.QuantConfig.Precision.INT8,
                io.squeeze.quantize.QuantConfig.Granularity.CHANNEL, io.squeeze.quantize.QuantConfig.Scheme.AFFINE, false,
                new io.squeeze.quantize.Observer.MinMax(), List.of());
        Loaded a = new Loaded(lm, io.squeeze.quantize.QuantizedModel.quantizeWeights(io.squeeze.model.NetOps.of(lm.net()), affine, Map.of()));
        var ex = org.junit.jupiter.api.Assertions.assertThrows(io.squeeze.core.BadInputException.class, () -> OnnxExport.export(a));
        assertTrue(ex.getMessage().startsWith("layer 0 is a dynamic int8 convolution with a zero point per channel"), ex.getMessage());
    }
    @Test
    void batchNormalizationIsFoldedIntoTheExportAndRunsAsDl4jComputesIt() throws Exception {
        var net = io.squeeze.TestModels.bnConvNet(13, true);
        var meta = new io.squeeze.model.ModelMeta(144, 10, new int[]{12, 12, 1}, io.squeeze.data.Normalizer.NONE, "test");
        Loaded m = new Loaded(new io.squeeze.model.LoadedModel(net, meta, "", "bn", io.squeeze.model.SourceKind.DL4J_ZIP, 0), null);
        OnnxExport.Exported e = OnnxExport.export(m);
        var ops = OnnxMl.ModelProto.parseFrom(e.bytes()).getGraph().getNodeList().stream().map(OnnxMl.NodeProto::getOpType).toList();
        assertTrue(!ops.contains("BatchNormalization"), ops.toString());
        assertEquals(2, ops.stream().filter("Conv"::equals).count(), ops.toString());
        org.nd4j.linalg.factory.Nd4j.getRandom().setSeed(8);
        float[] x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 25, 144).dup('c').data().asFloat();
        Rows rows = new Rows(x, new int[25], 25, 144);
        Map<String, float[]> ort = runOnnx(e.bytes(), rows);
        assertClose(Logits.of(net, x, 25, 144), ort.get("logits"), "logits");
        assertClose(net.output(org.nd4j.linalg.factory.Nd4j.create(x, new long[]{25, 144}, 'c')).dup('c').data().asFloat(), ort.get("output"), "output");
    }

    @Test
    void anLstmStackRunsInOnnxRuntimeAsDl4jComputesIt() throws Exception {
        // two stacked LSTMs (random weights, biases and gates) on rows of 4 steps of 3 features: ONNX's iofc gate order,
        // sequence-first layout and last-step Gather against DL4J's own forward pass
        var net = io.squeeze.quantize.LstmRuntimeTest.net(41);
        var meta = new io.squeeze.model.ModelMeta(12, 3, null, io.squeeze.data.Normalizer.NONE, "test");
        var lm = new io.squeeze.model.LoadedModel(net, meta, "", "lstm", io.squeeze.model.SourceKind.DL4J_ZIP, 0);
        OnnxExport.Exported e = OnnxExport.export(new Loaded(lm, null));
        var ops = OnnxMl.ModelProto.parseFrom(e.bytes()).getGraph().getNodeList().stream().map(OnnxMl.NodeProto::getOpType).toList();
        assertEquals(2, ops.stream().filter("LSTM"::equals).count(), ops.toString());
        org.nd4j.linalg.factory.Nd4j.getRandom().setSeed(9);
        float[] x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 17, 12).dup('c').data().asFloat();
        Map<String, float[]> ort = runOnnx(e.bytes(), new Rows(x, new int[17], 17, 12));
        assertClose(Logits.of(net, x, 17, 12), ort.get("logits"), "logits");
        assertClose(net.output(org.nd4j.linalg.factory.Nd4j.create(x, new long[]{17, 12}, 'c')).dup('c').data().asFloat(), ort.get("output"), "output");
        var dyn = new io.squeeze.quantize.QuantConfig(io.squeeze.quantize.QuantConfig.Mode.DYNAMIC, io.squeeze.quantize.QuantConfig.Precision.INT8,
                null, null, false, new io.squeeze.quantize.Observer.MinMax(), List.of());
        // dynamic int8: each LSTM unrolled over its 4 steps (DynamicQuantizeLinear, MatMulInteger, the cell in float),
        // as Squeeze's integer runtime computes it
        var qm = io.squeeze.quantize.QuantizedModel.quantizeWeights(io.squeeze.model.NetOps.of(net), dyn, Map.of());
        OnnxExport.Exported qe = OnnxExport.export(new Loaded(lm, qm));
        assertEquals("dynamic int8", qe.form());
        var qops = OnnxMl.ModelProto.parseFrom(qe.bytes()).getGraph().getNodeList().stream().map(OnnxMl.NodeProto::getOpType).toList();
        assertEquals(0, qops.stream().filter("LSTM"::equals).count(), qops.toString());
        assertEquals(2 * 4 + 1, qops.stream().filter("MatMulInteger"::equals).count(), "a product per step of each LSTM, and the output layer's");
        float[] ours = new io.squeeze.quantize.QuantRunner(qm).run(x, 17, 12, io.squeeze.quantize.QuantRunner.Path.INTEGER, null);
        float[] theirs = runOnnx(qe.bytes(), new Rows(x, new int[17], 17, 12)).get("output");
        for (int i = 0; i < ours.length; i++) assertEquals(ours[i], theirs[i], 1e-4, "ONNX Runtime vs the integer runtime, value " + i);
        float[] fl = net.output(org.nd4j.linalg.factory.Nd4j.create(x, new long[]{17, 12}, 'c')).dup('c').data().asFloat();
        double worst = 0;
        for (int i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(fl[i] - theirs[i]));
        assertTrue(worst > 0 && worst < 0.05, "int8 rounds, near float: " + worst);
        // int4 values in the same unrolled form; fp16 weights in ONNX's LSTM node, stored float16
        for (var p : new io.squeeze.quantize.QuantConfig.Precision[]{io.squeeze.quantize.QuantConfig.Precision.INT4, io.squeeze.quantize.QuantConfig.Precision.FP16}) {
            var cfg = new io.squeeze.quantize.QuantConfig(io.squeeze.quantize.QuantConfig.Mode.DYNAMIC, p, null, null, false, new io.squeeze.quantize.Observer.MinMax(), List.of());
            var pm = io.squeeze.quantize.QuantizedModel.quantizeWeights(io.squeeze.model.NetOps.of(net), cfg, Map.of());
            byte[] pe = OnnxExport.export(new Loaded(lm, pm)).bytes();
            var pops = OnnxMl.ModelProto.parseFrom(pe).getGraph().getNodeList().stream().map(OnnxMl.NodeProto::getOpType).toList();
            assertEquals(p == io.squeeze.quantize.QuantConfig.Precision.FP16 ? 2 : 0, pops.stream().filter("LSTM"::equals).count(), p + " " + pops);
            float[] want = new io.squeeze.quantize.QuantRunner(pm).run(x, 17, 12, io.squeeze.quantize.QuantRunner.Path.INTEGER, null);
            float[] got = runOnnx(pe, new Rows(x, new int[17], 17, 12)).get("output");
            for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-4, p + ": ONNX Runtime vs Squeeze's runtime, value " + i);
        }
    }

    @Test
    void aFactoredLstmRunsInOnnxRuntimeAsDl4jComputesIt() throws Exception {
        // layer 0's W at rank 2 and RW at rank 3 (FactoredLstm): the export writes the products into ONNX's LSTM
        var net = io.squeeze.quantize.LstmRuntimeTest.net(43);
        java.util.function.BiFunction<String, Integer, io.squeeze.model.Factorization.Factors> f = (param, k) -> {
            var w = net.getLayer(0).getParam(param);
            return io.squeeze.lowrank.LayerFactors.factor(w.dup('c').data().asFloat(), (int) w.rows(), (int) w.columns(), k,
                    new io.squeeze.lowrank.SvdMethod.Exact()).factors();
        };
        var factored = io.squeeze.model.Factorization.rewrite(net, Map.of(), Map.of(0, new io.squeeze.model.Factorization.RecurrentFactors(f.apply("W", 2), f.apply("RW", 3))));
        var meta = new io.squeeze.model.ModelMeta(12, 3, null, io.squeeze.data.Normalizer.NONE, "test");
        var lm = new io.squeeze.model.LoadedModel(factored, meta, "", "lstm", io.squeeze.model.SourceKind.DL4J_ZIP, 0);
        OnnxExport.Exported e = OnnxExport.export(new Loaded(lm, null));
        assertEquals("float, factored recurrent layers as the products of their factors", e.form());
        org.nd4j.linalg.factory.Nd4j.getRandom().setSeed(10);
        float[] x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 17, 12).dup('c').data().asFloat();
        Map<String, float[]> ort = runOnnx(e.bytes(), new Rows(x, new int[17], 17, 12));
        assertClose(factored.output(org.nd4j.linalg.factory.Nd4j.create(x, new long[]{17, 12}, 'c')).dup('c').data().asFloat(), ort.get("output"), "output");
    }
}
