package io.squeeze.quantize;

import io.squeeze.model.GraphBatchNormFold;
import io.squeeze.model.GraphOps;
import io.squeeze.model.ResNetGraphTest;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Batch normalization folded in a DL4J graph, and the graph's fake quantization for QAT against the integer runtime's rounding. */
public class GraphFakeQuantTest {

    @Test
    void foldingARestNetsBatchNormalizationsInDl4jFormComputesTheSameGraph() {
        ComputationGraph g = ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 7), 3);
        long norms = g.getConfiguration().getVertices().values().stream()
                .filter(v -> v instanceof LayerVertex l && l.getLayerConf().getLayer() instanceof BatchNormalization).count();
        GraphBatchNormFold.Folded f = GraphBatchNormFold.fold(g);
        assertEquals(norms, f.folded().size());
        assertTrue(norms >= 7, "the ResNet has a batch normalization after every convolution: " + norms);
        assertEquals("stem", f.folded().get("stem_bn"));
        ComputationGraphConfiguration c = f.graph().getConfiguration();
        assertFalse(c.getVertices().containsKey("stem_bn"));
        assertEquals(List.of("stem"), c.getVertexInputs().get("stem_relu"));
        assertTrue(((ConvolutionLayer) ((LayerVertex) c.getVertices().get("stem")).getLayerConf().getLayer()).hasBias());
        INDArray x = ResNetGraphTest.images(8, 11);
        INDArray want = g.outputSingle(false, x), got = f.graph().outputSingle(false, x);
        for (int i = 0; i < want.length(); i++) assertEquals(want.getDouble(i), got.getDouble(i), 1e-5, "probability " + i);
        assertTrue(f.graph().numParams() < g.numParams(), "the normalizations' parameters are gone");
        // the runtime's nodes of the folded graph are the source's, with only ReLUs left to fuse
        GraphOps a = GraphOps.of(g, "test"), b = GraphOps.of(f.graph(), "test");
        // (DL4J recomputes the topological order of the changed graph: independent branches may swap)
        assertEquals(a.nodes().stream().map(GraphOps.Node::name).sorted().toList(), b.nodes().stream().map(GraphOps.Node::name).sorted().toList());
        for (GraphOps.Node n : b.nodes()) for (String v : n.absorbed()) assertTrue(v.endsWith("relu") || v.endsWith("relu1"), v);
        // nothing left to fold: the same graph
        assertSame(f.graph(), GraphBatchNormFold.fold(f.graph()).graph());
    }

    @Test
    void theFakeQuantizedGraphRoundsWhereTheIntegerRuntimeDoes() {
        ComputationGraph g = GraphBatchNormFold.fold(ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 7), 3)).graph();
        GraphOps ops = GraphOps.of(g, "test");
        int n = ops.nodes().size();
        INDArray raw = ResNetGraphTest.images(32, 5);
        QuantizedModel qm = GraphQuantTest.calibrated(QuantizedModel.quantizeWeights(ops, GraphQuantTest.config(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8)),
                raw.data().asFloat(), 32, 784);
        GraphFakeQuant.Attached qat = GraphFakeQuant.attach(g, ops, qm.plan(), qm.plan().activations());
        // rounding at the fused ReLUs (convolutions and adds), after the pooling (an inserted vertex), none at the softmax output
        assertTrue(qat.at().containsKey("stem_relu") && qat.at().containsKey("s3b1_relu") && qat.at().containsKey("pool" + GraphFakeQuant.SUFFIX), qat.at().toString());
        assertFalse(qat.at().containsKey("output"));
        int pool = ops.nodes().stream().filter(x -> x.name().equals("pool")).findFirst().orElseThrow().op().layer();
        assertEquals(GraphFakeQuant.key(ops.nodes(), pool), (int) qat.at().get("pool" + GraphFakeQuant.SUFFIX), "the pooling rounds to its input's qparams");
        assertEquals(List.of("pool" + GraphFakeQuant.SUFFIX), qat.graph().getConfiguration().getVertexInputs().get("output"));
        // rows already on the input's grid, so the runtime's quantized input is the row itself
        float[] xs = raw.data().asFloat().clone();
        QuantRunner.fakeQuant(xs, qm.plan().activations().get(-1));
        INDArray x = Nd4j.create(xs, new long[]{32, 784}, 'c');
        // what the output layer reads: DL4J's fake-quantized graph vs the runtime's fake-quant path without the output node
        float[] dl4j = qat.graph().feedForward(x, false).get("pool" + GraphFakeQuant.SUFFIX).dup('c').data().asFloat();
        Map<Integer, QuantizedTensor> w = new LinkedHashMap<>(qm.weights());
        w.remove(n - 1);
        QuantizedModel head = new QuantizedModel(ops.ops().subList(0, n - 1), qm.plan(), w, ops.wiring().subList(0, n - 1));
        float[] rt = new QuantRunner(head).run(xs, 32, 784, QuantRunner.Path.FAKE_QUANT, null);
        assertEquals(rt.length, dl4j.length);
        float quantum = qm.plan().activations().get(GraphFakeQuant.key(ops.nodes(), pool)).scale();
        int close = 0;
        for (int i = 0; i < rt.length; i++) {
            assertEquals(rt[i], dl4j[i], quantum * 1.01, "pooled value " + i + " differs by more than one step");
            if (Math.abs(rt[i] - dl4j[i]) < 1e-4) close++;
        }
        assertTrue(close >= rt.length * 0.98, close + " of " + rt.length + " pooled values equal (float order may flip a rounding)");
        // every pooled value lies on the grid
        for (float v : dl4j) assertEquals(0, Math.abs(v / quantum - Math.rint(v / quantum)), 1e-3, "on the grid: " + v);
        // fake quantization changes what the graph computes, stripping it restores the graph
        INDArray plain = g.outputSingle(false, x);
        assertNotEquals(0, plain.sub(qat.graph().outputSingle(false, x)).amaxNumber().doubleValue());
        ComputationGraph back = GraphFakeQuant.strip(qat.graph());
        assertEquals(g.getConfiguration().getVertices().keySet(), back.getConfiguration().getVertices().keySet());
        assertEquals(plain, back.outputSingle(false, x));
        assertEquals(g.params(), back.params());
    }

    @Test
    void newQparamsReachTheConfigurationAndTheRunningLayersAndTheJsonWorkersReceive() {
        ComputationGraph g = GraphBatchNormFold.fold(ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 7), 4)).graph();
        GraphOps ops = GraphOps.of(g, "test");
        float[] x = ResNetGraphTest.images(16, 6).data().asFloat();
        QuantizedModel qm = GraphQuantTest.calibrated(QuantizedModel.quantizeWeights(ops, GraphQuantTest.config(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8)), x, 16, 784);
        GraphFakeQuant.Attached qat = GraphFakeQuant.attach(g, ops, qm.plan(), qm.plan().activations());
        Map<Integer, QParams> doubled = new LinkedHashMap<>();
        qm.plan().activations().forEach((k, q) -> doubled.put(k, new QParams(q.scale() * 2, q.zeroPoint())));
        GraphFakeQuant.update(qat.graph(), qat.at(), doubled);
        int stem = ops.nodes().stream().filter(v -> v.name().equals("stem")).findFirst().orElseThrow().op().layer();
        QParams want = doubled.get(stem);
        var conf = (ActivationLayer) ((LayerVertex) qat.graph().getConfiguration().getVertices().get("stem_relu")).getLayerConf().getLayer();
        assertEquals(want, ((FakeQuantActivation) conf.getActivationFn()).qparams());
        var live = (ActivationLayer) qat.graph().getLayer("stem_relu").conf().getLayer();
        assertEquals(want, ((FakeQuantActivation) live.getActivationFn()).qparams());
        // the configuration's JSON (what parameter averaging sends each round) keeps the fake quantization
        ComputationGraphConfiguration c = ComputationGraphConfiguration.fromJson(qat.graph().getConfiguration().toJson());
        var read = (ActivationLayer) ((LayerVertex) c.getVertices().get("stem_relu")).getLayerConf().getLayer();
        assertEquals(want, ((FakeQuantActivation) read.getActivationFn()).qparams());
        assertTrue(((org.deeplearning4j.nn.conf.layers.BaseLayer) ((LayerVertex) c.getVertices().get("s1b1_conv1")).getLayerConf().getLayer())
                .getWeightNoise() instanceof FakeQuantWeights);
        ComputationGraph rebuilt = new ComputationGraph(c);
        rebuilt.init(qat.graph().params().dup(), false);
        INDArray in = ResNetGraphTest.images(4, 9);
        assertEquals(qat.graph().outputSingle(false, in), rebuilt.outputSingle(false, in));
    }
}
