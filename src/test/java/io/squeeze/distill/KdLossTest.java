package io.squeeze.distill;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.TestModels;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.io.File;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The KD loss equals PyTorch 1.13's on reference vectors (make_kd_reference.py), value and gradient. */
class KdLossTest {
    static float[] floats(JsonNode a) {
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) f[i] = a.get(i).isTextual() ? Float.NEGATIVE_INFINITY : (float) a.get(i).asDouble();
        return f;
    }

    @Test
    void valueAndGradientEqualPyTorch() throws Exception {
        JsonNode cases = new ObjectMapper().readTree(new File("src/test/resources/reference/kd_reference.json")).get("cases");
        assertEquals(7, cases.size());
        for (JsonNode c : cases) {
            int b = c.get("rows").asInt(), k = c.get("classes").asInt();
            KdLoss loss = new KdLoss(new KdLossKernel(c.get("alpha").asDouble(), c.get("temperature").asDouble()), k);
            float[] s = floats(c.get("student")), t = floats(c.get("teacher")), labels = new float[b * (2 * k + 1)];
            for (int i = 0; i < b; i++) KdLoss.labels(labels, i * (2 * k + 1), c.get("labels").get(i).asInt(), t, i * k, k);
            var pre = Nd4j.create(s, new long[]{b, k}, 'c');
            var lab = Nd4j.create(labels, new long[]{b, 2 * k + 1}, 'c');
            String what = "alpha " + c.get("alpha") + " T " + c.get("temperature");
            assertEquals(c.get("loss").asDouble(), loss.computeScore(lab, pre, null, null, true), 1e-5 * Math.max(1, c.get("loss").asDouble()), what);
            float[] g = loss.computeGradient(lab, pre, null, null).dup('c').data().asFloat();
            for (int i = 0; i < g.length; i++) assertEquals(c.get("grad").get(i).asDouble(), g[i] / b, 1e-6, what + " grad " + i);
        }
    }

    @Test
    void gradientMatchesFiniteDifferences() {
        Random r = new Random(3);
        int k = 7;
        float[] s = new float[k], t = new float[k];
        for (int j = 0; j < k; j++) {
            s[j] = (float) r.nextGaussian() * 2;
            t[j] = (float) r.nextGaussian() * 3;
        }
        for (KdLossKernel kern : new KdLossKernel[]{new KdLossKernel(0.5, 4), new KdLossKernel(0, 1.5), new KdLossKernel(0.9, 10)}) {
            for (int label : new int[]{2, -1}) {
                float[] g = new float[k];
                kern.row(s, 0, t, 0, k, label, g, 0);
                for (int j = 0; j < k; j++) {
                    float[] a = s.clone(), b = s.clone();
                    a[j] += 1e-2f;
                    b[j] -= 1e-2f;
                    double num = (kern.row(a, 0, t, 0, k, label, null, 0) - kern.row(b, 0, t, 0, k, label, null, 0)) / (a[j] - b[j]);
                    assertEquals(num, g[j], 2e-3 * Math.max(1, Math.abs(num)), kern + " label " + label + " d/ds" + j);
                }
            }
        }
    }

    @Test
    void trainsInADl4jOutputLayerAndSerializesWithIt() {
        MultiLayerNetwork net = TestModels.mlp(20, new int[]{16}, 5, 1);
        MultiLayerConfiguration c = net.getLayerWiseConfigurations().clone();
        ((OutputLayer) c.getConf(1).getLayer()).setLossFn(new KdLoss(new KdLossKernel(0.3, 3), 5));
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(c.toJson());
        assertTrue(((OutputLayer) back.getConf(1).getLayer()).getLossFn() instanceof KdLoss);
        MultiLayerNetwork student = new MultiLayerNetwork(back);
        student.init(net.params().dup(), false);
        Random r = new Random(1);
        float[] x = new float[32 * 20], labels = new float[32 * 11], teacher = new float[5];
        for (int i = 0; i < x.length; i++) x[i] = 0.2f * r.nextFloat();
        for (int i = 0; i < 32; i++) {
            x[i * 20 + i % 5] = 1f; // a learnable problem: the class is in the features
            for (int j = 0; j < 5; j++) teacher[j] = j == i % 5 ? 4f : 0f;
            KdLoss.labels(labels, i * 11, i % 3 == 0 ? -1 : i % 5, teacher, 0, 5);
        }
        DataSet d = new DataSet(Nd4j.create(x, new long[]{32, 20}, 'c'), Nd4j.create(labels, new long[]{32, 11}, 'c'));
        student.setListeners();
        double before = student.score(d);
        for (int i = 0; i < 200; i++) student.fit(d);
        assertTrue(student.score(d) < 0.5 * before, "KD loss falls: " + before + " -> " + student.score(d));
        // the student now follows the teacher's argmax
        var out = student.output(d.getFeatures());
        for (int i = 0; i < 32; i++) assertEquals(i % 5, out.getRow(i).argMax().getInt(0));
    }
}
