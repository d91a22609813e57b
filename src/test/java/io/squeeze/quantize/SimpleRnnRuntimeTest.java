package io.squeeze.quantize;

import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.OnnxExport;
import io.squeeze.artifact.OnnxExportTest;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.NetOps;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static io.squeeze.quantize.LstmRuntimeTest.FEATURES;
import static io.squeeze.quantize.LstmRuntimeTest.ROWS;
import static io.squeeze.quantize.LstmRuntimeTest.STEPS;
import static org.junit.jupiter.api.Assertions.*;

/** A SimpleRnn stack ({@code --arch rnn:6,5}) in the runtime ({@link NetOps.Rnn} with one block), its dynamic int8 form and ONNX's RNN. */
public class SimpleRnnRuntimeTest {
    /** Two SimpleRnns (6 and 5 units, tanh) on rows of 4 steps of 3 features, every parameter random. */
    public static MultiLayerNetwork net(long seed) {
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.Rnn(new int[]{6, 5}), STEPS * FEATURES, 3,
                new int[]{STEPS, FEATURES, 1}, new Architectures.Hyper(seed, 1e-3, 0), null));
        net.init();
        Random r = new Random(seed);
        float[] v = new float[(int) net.numParams()];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * 0.6);
        net.setParams(Nd4j.create(v, new long[]{1, v.length}, 'c'));
        return net;
    }

    static float[] dl4j(MultiLayerNetwork net, float[] x) {
        return net.output(Nd4j.create(x, new long[]{ROWS, STEPS * FEATURES}, 'c')).castTo(DataType.FLOAT).dup('c').data().asFloat();
    }

    @Test
    void theRuntimeComputesWhatDl4jComputesAndDynamicInt8StaysNear() {
        MultiLayerNetwork net = net(21);
        assertEquals("SimpleRnn", net.getLayer(0).conf().getLayer().getClass().getSimpleName());
        List<NetOps.Op> ops = NetOps.of(net);
        NetOps.Rnn r0 = (NetOps.Rnn) ops.get(0);
        assertEquals(1, r0.gates());
        assertEquals((FEATURES + 6) * 6, r0.w().length);
        float[] x = LstmRuntimeTest.inputs(3);
        QuantizedModel qm = LstmRuntimeTest.dynamicInt8(net);
        assertArrayEquals(new long[]{FEATURES + 6, 6}, qm.weights().get(0).shape()); // [W; RW], a scale per unit
        QuantRunner run = new QuantRunner(qm);
        float[] exact = run.run(x, ROWS, STEPS * FEATURES, QuantRunner.Path.FLOAT, null);
        assertArrayEquals(dl4j(net, x), exact, 1e-5f);
        float[] integer = run.run(x, ROWS, STEPS * FEATURES, QuantRunner.Path.INTEGER, null);
        float[] fake = run.run(x, ROWS, STEPS * FEATURES, QuantRunner.Path.FAKE_QUANT, null);
        assertArrayEquals(fake, integer, 2e-5f);
        double worst = 0;
        for (int i = 0; i < exact.length; i++) worst = Math.max(worst, Math.abs(exact[i] - integer[i]));
        assertTrue(worst > 0 && worst < 0.03, "largest probability change from int8 " + worst);
    }

    @Test
    void itRunsInOnnxRuntimeAsDl4jComputesIt() throws Exception {
        MultiLayerNetwork net = net(22);
        var meta = new io.squeeze.model.ModelMeta(STEPS * FEATURES, 3, null, io.squeeze.data.Normalizer.NONE, "test");
        var lm = new io.squeeze.model.LoadedModel(net, meta, "", "rnn", io.squeeze.model.SourceKind.DL4J_ZIP, 0);
        OnnxExport.Exported e = OnnxExport.export(new Loaded(lm, null));
        var nodes = ai.onnx.proto.OnnxMl.ModelProto.parseFrom(e.bytes()).getGraph().getNodeList().stream().map(ai.onnx.proto.OnnxMl.NodeProto::getOpType).toList();
        assertEquals(2, nodes.stream().filter("RNN"::equals).count(), nodes.toString());
        float[] x = LstmRuntimeTest.inputs(5);
        Map<String, float[]> ort = OnnxExportTest.runOnnx(e.bytes(), new OnnxExportTest.Rows(x, new int[ROWS], ROWS, STEPS * FEATURES));
        float[] want = dl4j(net, x), got = ort.get("output");
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-5, "output " + i);
        // dynamic int8: each SimpleRnn unrolled, h_t = tanh(z_t) on the step's dynamic int8 product, as the runtime computes it
        QuantizedModel qm = LstmRuntimeTest.dynamicInt8(net);
        OnnxExport.Exported q = OnnxExport.export(new Loaded(lm, qm));
        var qnodes = ai.onnx.proto.OnnxMl.ModelProto.parseFrom(q.bytes()).getGraph().getNodeList().stream().map(ai.onnx.proto.OnnxMl.NodeProto::getOpType).toList();
        assertEquals(0, qnodes.stream().filter("RNN"::equals).count(), qnodes.toString());
        float[] ours = new QuantRunner(qm).run(x, ROWS, STEPS * FEATURES, QuantRunner.Path.INTEGER, null);
        float[] theirs = OnnxExportTest.runOnnx(q.bytes(), new OnnxExportTest.Rows(x, new int[ROWS], ROWS, STEPS * FEATURES)).get("output");
        for (int i = 0; i < ours.length; i++) assertEquals(ours[i], theirs[i], 1e-4, "ONNX Runtime vs the integer runtime, output " + i);
    }
}
