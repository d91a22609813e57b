package io.squeeze.artifact;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.data.Normalizer;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.Logits;
import io.squeeze.model.ModelIO;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.ResNetGraphTest;
import io.squeeze.model.SourceKind;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

import java.io.File;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** ONNX export of branching graphs, run in ONNX Runtime against DL4J's own outputs and a NumPy reference. */
class OnnxGraphExportTest {
    @Test
    void aResNetRunsInOnnxRuntimeAsInDl4j() throws Exception {
        ComputationGraph g = ResNetGraphTest.randomized(ResNetGraphTest.mnist(2, 21), 22);
        Random r = new Random(23);
        float[] x = new float[7 * 784];
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
        // with a min-max normalization in front, so the exported Sub/Mul are checked too
        float[] offset = new float[784], scale = new float[784];
        for (int i = 0; i < 784; i++) { offset[i] = 0.1f * (i % 7); scale[i] = 1.5f; }
        Normalizer nz = new Normalizer(io.squeeze.data.Normalization.MINMAX, offset, scale);
        LoadedModel m = LoadedModel.ofGraph(g, new ModelMeta(784, 10, new int[]{28, 28, 1}, nz, "test"), "sha", "resnet", SourceKind.DL4J_ZIP, 0);
        OnnxExport.Exported e = OnnxExport.export(Loaded.plain(m));
        assertEquals("float graph", e.form());
        Map<String, float[]> ort = OnnxExportTest.runOnnx(e.bytes(), new OnnxExportTest.Rows(x, new int[7], 7, 784));
        float[] normalized = nz.appliedRows(x.clone(), 7);
        float[] dl4j = g.outputSingle(false, Nd4j.create(normalized, new long[]{7, 784}, 'c')).data().asFloat();
        float[] logits = Logits.of(g, normalized, 7, 784);
        double largest = 0;
        for (float v : logits) largest = Math.max(largest, Math.abs(v));
        for (int i = 0; i < dl4j.length; i++) {
            assertEquals(dl4j[i], ort.get("output")[i], 1e-4, "output " + i);
            // fourteen layers of random statistics reach logits of ~100: float rounding, summed in another order, to 1e-5 of that
            assertEquals(logits[i], ort.get("logits")[i], 1e-5 * largest, "logits " + i);
        }
    }

    @Test
    void aStaticInt8ResNetRunsInOnnxRuntimeAsTheIntegerPathComputesIt() throws Exception {
        ComputationGraph g = ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 31), 32);
        int n = 40;
        float[] x = ResNetGraphTest.images(n, 33).data().asFloat();
        var ops = io.squeeze.model.GraphOps.of(g, "test");
        var qm = io.squeeze.quantize.GraphQuantTest.calibrated(
                io.squeeze.quantize.QuantizedModel.quantizeWeights(ops, io.squeeze.quantize.GraphQuantTest.config(
                        io.squeeze.quantize.QuantConfig.Mode.STATIC, io.squeeze.quantize.QuantConfig.Precision.INT8)), x, n, 784);
        LoadedModel m = LoadedModel.ofGraph(g, new ModelMeta(784, 10, new int[]{28, 28, 1}, Normalizer.NONE, "test"), "sha", "resnet", SourceKind.DL4J_ZIP, 0);
        OnnxExport.Exported e = OnnxExport.export(new Loaded(m, qm));
        assertEquals("static QDQ graph", e.form());
        var proto = ai.onnx.proto.OnnxMl.ModelProto.parseFrom(e.bytes());
        // three residual adds between DequantizeLinear inputs and a QuantizeLinear at each add's calibrated scale
        assertEquals(3, proto.getGraph().getNodeList().stream().filter(nd -> nd.getOpType().equals("Add") && nd.getInput(0).endsWith("_dq")).count());
        Map<String, float[]> ort = OnnxExportTest.runOnnx(e.bytes(), new OnnxExportTest.Rows(x, new int[n], n, 784));
        float[] sq = new io.squeeze.quantize.QuantRunner(qm).run(x.clone(), n, 784, io.squeeze.quantize.QuantRunner.Path.INTEGER, null);
        double worst = 0;
        for (int i = 0; i < sq.length; i++) worst = Math.max(worst, Math.abs(sq[i] - ort.get("output")[i]));
        // ONNX Runtime requantizes with its own fixed-point rounding: a level apart here and there, never more
        assertTrue(worst < 0.02, "ONNX Runtime's int8 probabilities vs Squeeze's integer path: " + worst);
        assertTrue(OnnxExportTest.agreement(sq, ort.get("output"), n, 10) >= 0.95);
        // dynamic int8: DynamicQuantizeLinear + ConvInteger/MatMulInteger per layer, the merges in float
        var dyn = io.squeeze.quantize.QuantizedModel.quantizeWeights(ops, io.squeeze.quantize.GraphQuantTest.config(
                io.squeeze.quantize.QuantConfig.Mode.DYNAMIC, io.squeeze.quantize.QuantConfig.Precision.INT8));
        OnnxExport.Exported d = OnnxExport.export(new Loaded(m, dyn));
        assertEquals("dynamic int8 graph", d.form());
        float[] ds = new io.squeeze.quantize.QuantRunner(dyn).run(x.clone(), n, 784, io.squeeze.quantize.QuantRunner.Path.INTEGER, null);
        float[] dor = OnnxExportTest.runOnnx(d.bytes(), new OnnxExportTest.Rows(x, new int[n], n, 784)).get("output");
        double dworst = 0;
        for (int i = 0; i < ds.length; i++) dworst = Math.max(dworst, Math.abs(ds[i] - dor[i]));
        assertTrue(dworst < 0.02, "dynamic int8 graph: ONNX Runtime vs Squeeze's integer path " + dworst);
        // fp16 weights: no activation is calibrated, the merges stay float, in the runtime and in the export
        var fp16 = io.squeeze.quantize.QuantizedModel.quantizeWeights(ops, io.squeeze.quantize.GraphQuantTest.config(
                io.squeeze.quantize.QuantConfig.Mode.STATIC, io.squeeze.quantize.QuantConfig.Precision.FP16));
        assertTrue(fp16.plan().activations().isEmpty());
        OnnxExport.Exported h = OnnxExport.export(new Loaded(m, fp16));
        assertEquals("float16 weights graph", h.form());
        float[] hs = new io.squeeze.quantize.QuantRunner(fp16).run(x.clone(), n, 784, io.squeeze.quantize.QuantRunner.Path.INTEGER, null);
        float[] ho = OnnxExportTest.runOnnx(h.bytes(), new OnnxExportTest.Rows(x, new int[n], n, 784)).get("output");
        float[] fl = g.outputSingle(false, Nd4j.create(x, new long[]{n, 784}, 'c')).data().asFloat();
        for (int i = 0; i < hs.length; i++) {
            assertEquals(hs[i], ho[i], 1e-4, "fp16 graph: ONNX Runtime vs the runtime, " + i);
            assertEquals(fl[i], hs[i], 2e-2, "fp16 weights vs float, " + i);
        }
    }

    @Test
    void theKerasModelWithAnAddAConcatenationAndBatchNormalizationGivesNumpysOutputs() throws Exception {
        LoadedModel m = ModelIO.loadFile(OnnxExportTest.ST, new org.apache.hadoop.fs.Path(new File("src/test/resources/keras/functional-residual.h5").getAbsolutePath()), true);
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/functional-residual-expected.json"));
        int n = ref.get("inputs").size();
        float[] x = new float[n * 6];
        for (int i = 0; i < n; i++) for (int j = 0; j < 6; j++) x[i * 6 + j] = (float) ref.get("inputs").get(i).get(j).asDouble();
        float[] out = OnnxExportTest.runOnnx(OnnxExport.export(Loaded.plain(m)).bytes(), new OnnxExportTest.Rows(x, new int[n], n, 6)).get("output");
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 3; k++) assertEquals(ref.get("outputs").get(i).get(k).asDouble(), out[i * 3 + k], 1e-5, "row " + i + " class " + k);
    }
}
