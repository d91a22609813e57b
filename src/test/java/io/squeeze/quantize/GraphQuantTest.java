package io.squeeze.quantize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.core.BadInputException;
import io.squeeze.model.GraphOps;
import io.squeeze.model.NetOps;
import io.squeeze.model.ResNetGraphTest;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.File;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

public class GraphQuantTest {
    private static final QuantConfig STATIC = config(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8);

    public static QuantConfig config(QuantConfig.Mode mode, QuantConfig.Precision p) {
        return new QuantConfig(mode, p, QuantConfig.Granularity.CHANNEL, null, false, QuantConfig.observer("minmax"), List.of(), QuantConfig.Rounding.NEAREST);
    }

    /** {@code qm} with every activation calibrated (min/max) on {@code x}. */
    public static QuantizedModel calibrated(QuantizedModel qm, float[] x, int rows, int nf) {
        Calibration c = new Calibration(QuantConfig.observer("minmax").firstPass());
        new QuantRunner(qm).run(x, rows, nf, QuantRunner.Path.FLOAT, c::update);
        return qm.withActivations(Calibrator.qparams(Calibrator.ranges(QuantConfig.observer("minmax"), c, null, false)));
    }

    @Test
    void theNodesOfAResNetFoldItsBatchNormalizationsAndFuseItsRelusAndComputeItAsDl4j() {
        ComputationGraph g = ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 7), 3);
        GraphOps ops = GraphOps.of(g, "test");
        // DL4J's topological order: stem, 3 blocks of conv1/conv2/add (+ a projection in stages 2 and 3), pooling, output; BNs and ReLUs gone
        assertEquals(List.of("stem_image", "stem", "s1b1_conv1", "s1b1_conv2", "s1b1_add", "s2b1_proj", "s2b1_conv1", "s2b1_conv2", "s2b1_add",
                "s3b1_conv1", "s3b1_proj", "s3b1_conv2", "s3b1_add", "pool", "output"), ops.nodes().stream().map(GraphOps.Node::name).toList());
        GraphOps.Node add = ops.nodes().stream().filter(n -> n.name().equals("s2b1_add")).findFirst().orElseThrow();
        assertEquals(new NetOps.Add(add.op().layer(), NetOps.Act.RELU), add.op());
        assertEquals(List.of("s2b1_relu"), add.absorbed());
        GraphOps.Node stem = ops.nodes().stream().filter(n -> n.name().equals("stem")).findFirst().orElseThrow();
        assertEquals(List.of("stem_bn", "stem_relu"), stem.absorbed());
        assertEquals(NetOps.Act.RELU, ((NetOps.Conv) stem.op()).act());
        // the float path of the folded nodes is DL4J's graph
        INDArray x = ResNetGraphTest.images(6, 11);
        INDArray want = g.outputSingle(false, x);
        QuantizedModel fp32 = QuantizedModel.quantizeWeights(ops, STATIC); // the float path computes with the folded float weights
        float[] got = new QuantRunner(fp32).run(x.data().asFloat(), 6, 784, QuantRunner.Path.FLOAT, null);
        for (int i = 0; i < got.length; i++) assertEquals(want.getDouble(i / 10, i % 10), got[i], 1e-5, "probability " + i);
    }

    @Test
    void staticInt8OfAResNetComputesItsMergesInIntegersCloseToFloat() {
        ComputationGraph g = ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 7), 3);
        GraphOps ops = GraphOps.of(g, "test");
        INDArray x = ResNetGraphTest.images(32, 5);
        QuantizedModel qm = calibrated(QuantizedModel.quantizeWeights(ops, STATIC), x.data().asFloat(), 32, 784);
        // every merge has calibrated qparams: the add's output (ReLU fused: zero point 0)
        int add = ops.nodes().stream().filter(n -> n.name().equals("s3b1_add")).findFirst().orElseThrow().op().layer();
        assertEquals(0, qm.plan().activations().get(add).zeroPoint());
        float[] f = new QuantRunner(qm).run(x.data().asFloat(), 32, 784, QuantRunner.Path.FLOAT, null);
        float[] i8 = new QuantRunner(qm).run(x.data().asFloat(), 32, 784, QuantRunner.Path.INTEGER, null);
        float[] fq = new QuantRunner(qm).run(x.data().asFloat(), 32, 784, QuantRunner.Path.FAKE_QUANT, null);
        double maxFloat = 0, maxFake = 0;
        for (int i = 0; i < f.length; i++) {
            maxFloat = Math.max(maxFloat, Math.abs(f[i] - i8[i]));
            maxFake = Math.max(maxFake, Math.abs(fq[i] - i8[i]));
        }
        assertTrue(maxFloat < 0.05, "integer vs float probabilities differ by " + maxFloat);
        assertTrue(maxFake < 0.02, "integer vs fake-quant probabilities differ by " + maxFake);
        assertTrue(maxFloat > 0, "the integer path rounds");
        // the same batch twice: the same integers
        assertArrayEquals(i8, new QuantRunner(qm).run(x.data().asFloat(), 32, 784, QuantRunner.Path.INTEGER, null));
    }

    @Test
    void dynamicInt8AndMixedPrecisionByVertexNameRunTheGraph() {
        ComputationGraph g = ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 7), 4);
        GraphOps ops = GraphOps.of(g, "test");
        float[] x = ResNetGraphTest.images(16, 6).data().asFloat();
        // dynamic: every weighted node's input quantized from the batch's own range, the merges in float
        QuantizedModel dyn = QuantizedModel.quantizeWeights(ops, config(QuantConfig.Mode.DYNAMIC, QuantConfig.Precision.INT8));
        assertTrue(dyn.plan().activations().isEmpty());
        float[] f = new QuantRunner(dyn).run(x, 16, 784, QuantRunner.Path.FLOAT, null), d = new QuantRunner(dyn).run(x, 16, 784, QuantRunner.Path.INTEGER, null);
        double worst = 0;
        for (int i = 0; i < f.length; i++) worst = Math.max(worst, Math.abs(f[i] - d[i]));
        assertTrue(worst > 0 && worst < 0.05, "dynamic int8 vs float " + worst);
        // --layer-precision by vertex name: the last stage in fp32, the rest int4
        QuantConfig mixed = new QuantConfig(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT4, QuantConfig.Granularity.CHANNEL, null, false,
                QuantConfig.observer("minmax"), List.of(QuantConfig.LayerOverride.parse("s3b1_*=fp32")), QuantConfig.Rounding.NEAREST);
        QuantizedModel m = QuantizedModel.quantizeWeights(ops, mixed);
        for (GraphOps.Node n : ops.nodes()) {
            if (QuantizedModel.shape(n.op()) == null) continue;
            assertEquals(n.name().startsWith("s3b1_") ? QuantConfig.Precision.FP32 : QuantConfig.Precision.INT4, m.plan().precisionOf(n.op().layer()), n.name());
        }
        float[] i4 = new QuantRunner(calibrated(m, x, 16, 784)).run(x, 16, 784, QuantRunner.Path.INTEGER, null);
        for (int r = 0; r < 16; r++) { // int4 with an fp32 stage in integers: probabilities still
            double sum = 0;
            for (int k = 0; k < 10; k++) sum += i4[r * 10 + k];
            assertEquals(1.0, sum, 1e-4, "row " + r);
        }
    }

    @Test
    void integerAddConcatenationAndGlobalPoolingMatchPyTorchsQnnpackOperators() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/reference/graph_quant_reference.json"));
        int[] a = ints(ref.get("a").get("q")), b = ints(ref.get("b").get("q")), c = ints(ref.get("c").get("q"));
        QParams pa = qp(ref.get("a")), pb = qp(ref.get("b")), pc = qp(ref.get("c"));
        int total = 0, exact = 0;
        for (JsonNode add : ref.get("adds")) {
            int[] want = ints(add.get("q")), got = GraphMerges.add(a, pa, b, pb, qp(add), add.get("relu").asBoolean());
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], got[i], 1, "add " + add + " element " + i); // QNNPACK's fixed-point multiplier rounds ties its own way
                total++;
                if (want[i] == got[i]) exact++;
            }
        }
        assertTrue(exact >= 0.99 * total, exact + " of " + total + " add outputs equal PyTorch's");
        // concatenation on the channel axis of NCHW rows: a (3 channels of 4x4) then c (2 channels)
        int rows = 2, wa = 3 * 16, wc = 2 * 16;
        int[] cat = GraphMerges.concat(new int[][]{a, c}, new QParams[]{pa, pc}, rows, new int[]{wa, wc}, qp(ref.get("cat")));
        assertArrayEquals(ints(ref.get("cat").get("q")), cat);
        // global average pooling keeps the input's qparams
        assertEquals(pa.scale(), ref.get("pool").get("scale").asDouble(), 1e-9);
        assertArrayEquals(ints(ref.get("pool").get("q")), GraphMerges.meanPool(a, rows, 3, 16));
    }

    @Test
    void aGraphWithAConcatenationOfFlatRowsRunsAndAnUnfoldableBatchNormalizationIsRefusedByName() {
        var conf = new NeuralNetConfiguration.Builder().seed(1).graphBuilder().addInputs("in").setInputTypes(InputType.feedForward(5))
                .addLayer("a", new DenseLayer.Builder().nOut(4).activation(Activation.IDENTITY).build(), "in")
                .addLayer("r", new ActivationLayer.Builder().activation(Activation.RELU).build(), "a")
                .addLayer("b", new DenseLayer.Builder().nOut(3).activation(Activation.TANH).build(), "in")
                .addVertex("cat", new MergeVertex(), "r", "b")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2).activation(Activation.SOFTMAX).build(), "cat")
                .setOutputs("out").build();
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        GraphOps ops = GraphOps.of(g, "test");
        assertEquals(List.of("a", "b", "cat", "out"), ops.nodes().stream().map(GraphOps.Node::name).toList());
        float[] x = new float[40];
        java.util.Random r = new java.util.Random(2);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        INDArray want = g.outputSingle(false, org.nd4j.linalg.factory.Nd4j.create(x, new long[]{8, 5}, 'c'));
        QuantizedModel qm = calibrated(QuantizedModel.quantizeWeights(ops, STATIC), x, 8, 5);
        float[] f = new QuantRunner(qm).run(x, 8, 5, QuantRunner.Path.FLOAT, null), i8 = new QuantRunner(qm).run(x, 8, 5, QuantRunner.Path.INTEGER, null);
        for (int i = 0; i < 16; i++) {
            assertEquals(want.getDouble(i / 2, i % 2), f[i], 1e-5);
            assertEquals(f[i], i8[i], 0.03, "integer path, probability " + i);
        }
        // a batch normalization after an add cannot fold: refused naming the vertex
        var bad = new NeuralNetConfiguration.Builder().seed(1).graphBuilder().addInputs("in").setInputTypes(InputType.feedForward(5))
                .addLayer("a", new DenseLayer.Builder().nOut(5).activation(Activation.IDENTITY).build(), "in")
                .addVertex("sum", new ElementWiseVertex(ElementWiseVertex.Op.Add), "a", "in")
                .addLayer("bn", new BatchNormalization.Builder().build(), "sum")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(2).activation(Activation.SOFTMAX).build(), "bn")
                .setOutputs("out").build();
        ComputationGraph bg = new ComputationGraph(bad);
        bg.init();
        BadInputException e = assertThrows(BadInputException.class, () -> GraphOps.of(bg, "the quantized runtime"));
        assertTrue(e.getMessage().startsWith("vertex 'bn' is a BatchNormalization that does not directly follow a convolution or dense vertex"), e.getMessage());
    }

    /**
     * The same quantization of one graph calibrated twice (on executors, in one process): the same layers and integer
     * weights, activation ranges to float rounding (BLAS rounds a convolution's sums by how many rows a call holds).
     */
    public static void assertSameQuantization(QuantizedModel a, QuantizedModel b) {
        assertEquals(a.plan().layers(), b.plan().layers());
        assertEquals(a.plan().activations().keySet(), b.plan().activations().keySet());
        a.plan().activations().forEach((k, x) -> {
            assertEquals(x.scale(), b.plan().activations().get(k).scale(), 1e-5 * x.scale(), "node " + k);
            assertEquals(x.zeroPoint(), b.plan().activations().get(k).zeroPoint(), "node " + k);
        });
        assertEquals(a.weights().keySet(), b.weights().keySet());
        a.weights().forEach((k, w) -> assertArrayEquals(w.values(), b.weights().get(k).values(), "node " + k));
    }

    private static QParams qp(JsonNode n) {
        return new QParams((float) n.get("scale").asDouble(), n.get("zero_point").asInt());
    }

    private static int[] ints(JsonNode n) {
        int[] v = new int[n.size()];
        for (int i = 0; i < v.length; i++) v[i] = n.get(i).asInt();
        return v;
    }
}
