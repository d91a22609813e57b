package io.squeeze.model;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.AdamUpdater;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.schedule.ExponentialSchedule;
import org.nd4j.linalg.schedule.ScheduleType;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;

import static org.junit.jupiter.api.Assertions.*;

/** The Java Adam kernel computes DL4J's (libnd4j's) Adam: one step on views, many {@code fit()} steps, saved models. */
public class JavaAdamTest {

    /** A row of {@code n} values at {@code offset} inside a larger array, and that row as a view of a view. */
    private static INDArray row(INDArray big, long from, long n) {
        return big.get(NDArrayIndex.point(0), NDArrayIndex.interval(from, from + n)).reshape(1, n);
    }

    @Test
    void oneStepOnViewsWithOffsetsIsLibnd4jsAdam() {
        int n = 10_007; // more than two chunks, not a multiple of one
        Nd4j.getRandom().setSeed(7);
        INDArray stateBig = Nd4j.rand(DataType.FLOAT, 1, 3 * n + 11).muli(0.01);
        INDArray gradBig = Nd4j.rand(DataType.FLOAT, 1, n + 7).subi(0.5);
        INDArray outer = row(stateBig, 5, 2 * n + 6);
        INDArray stateJava = row(outer, 3, 2 * n); // a view of a view: offset 8 in the buffer
        INDArray stateNative = stateJava.dup();
        assertTrue(JavaAdam.fits(stateJava));
        assertEquals(8, stateJava.offset());
        Adam cfg = new Adam(new ExponentialSchedule(ScheduleType.ITERATION, 2e-3, 0.999));
        var java = new JavaAdam(cfg, stateJava);
        var lib = new AdamUpdater(cfg);
        lib.setStateViewArray(stateNative, new long[]{1, n}, 'c', false);
        for (int it : new int[]{0, 1, 5, 300}) {
            INDArray g = row(gradBig, 7, n);
            INDArray gNative = g.dup();
            float before = gradBig.getFloat(0, 3);
            java.applyUpdater(g, it, 0);
            lib.applyUpdater(gNative, it, 0);
            assertEquals(before, gradBig.getFloat(0, 3), "elements outside the gradient view are left alone");
            double scale = gNative.amaxNumber().doubleValue();
            assertTrue(scale > 1e-4, "the update is not trivially zero: " + scale);
            assertEquals(0, g.sub(gNative).amaxNumber().doubleValue(), 2e-6 * scale, "update, iteration " + it);
            assertEquals(0, stateJava.sub(stateNative).amaxNumber().doubleValue(), 1e-6, "m and v, iteration " + it);
        }
        assertEquals(stateBig.getFloat(0, 2), stateBig.dup().getFloat(0, 2));
        assertEquals(0, java.getState().get(AdamUpdater.M_STATE).sub(lib.getState().get(AdamUpdater.M_STATE)).amaxNumber().doubleValue(), 1e-6);
    }

    @Test
    void decayingMomentsNeverTurnSubnormalAndTheParametersMoveAsWithoutTheFlush() {
        // moments of parameters whose gradient has gone to 0, from ordinary sizes down to the flushes' thresholds
        float[] m = {1e-3f, -2e-4f, 3e-12f, -5e-16f, 0x1p-60f, -7e-20f, 0f, 1e-30f, 0x1p-51f};
        float[] v = {1e-6f, 4e-8f, 1e-20f, 3e-23f, 0x1p-75f, 1e-30f, 1e-36f, 0f, 0x1p-119f};
        float[] p = {0.25f, -1e-3f, 5e-11f, -3e-8f, 1e-10f, 0.5f, -7e-6f, 2e-12f, 3e-13f};
        int n = m.length;
        float[] pm = m.clone(), pv = v.clone(), pp = p.clone(); // the same steps without the flush
        float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, alpha = 1e-3f;
        boolean plainWentSubnormal = false;
        for (int t = 0; t < 40_000; t++) {
            float grad = t == 20_000 ? 1e-3f : 0f; // one real gradient in between: the flushed state gives the same moments
            float[] g = new float[n], pg = new float[n];
            java.util.Arrays.fill(g, grad);
            java.util.Arrays.fill(pg, grad);
            JavaAdam.step(m, v, g, n, beta1, beta2, eps, alpha, JavaAdam.vFloor(eps));
            for (int i = 0; i < n; i++) { // libnd4j's formula as the kernel had it before the flush
                pm[i] = beta1 * pm[i] + pg[i] * (1f - beta1);
                pv[i] = beta2 * pv[i] + pg[i] * pg[i] * (1f - beta2);
                pg[i] = pm[i] * alpha / ((float) Math.sqrt(pv[i]) + eps);
            }
            for (int i = 0; i < n; i++) {
                p[i] -= g[i];
                pp[i] -= pg[i];
                assertFalse(subnormal(m[i]) || subnormal(v[i]) || subnormal(g[i]), "step " + t + ", element " + i + ": " + m[i] + " " + v[i] + " " + g[i]);
                plainWentSubnormal |= subnormal(pm[i]) || subnormal(pv[i]);
                if (Math.abs(pm[i]) >= 0x1p-60f) assertEquals(pm[i], m[i], "m from 2^-60 up exactly, step " + t);
                if (pv[i] >= JavaAdam.V_FLOOR) assertEquals(pv[i], v[i], "v from the floor up exactly, step " + t);
                assertEquals(pp[i], p[i], "the parameter bit for bit, step " + t + ", element " + i);
            }
        }
        assertTrue(plainWentSubnormal, "without the flush the moments do turn subnormal");
    }

    @Test
    void vsFloorLeavesSqrtVPlusEpsilonAtEpsilon() {
        assertEquals(JavaAdam.V_FLOOR, JavaAdam.vFloor(1e-8f));
        for (float eps : new float[]{1e-3f, 1e-6f, 1e-8f, 1e-12f, 1e-16f, 1e-20f, 1e-30f}) {
            float f = JavaAdam.vFloor(eps);
            assertTrue(f == 0 || f >= Float.MIN_NORMAL && f <= JavaAdam.V_FLOOR, "eps " + eps + ": " + f);
            assertEquals(eps, (float) Math.sqrt(f) + eps, "eps " + eps);
        }
        assertEquals(0f, JavaAdam.vFloor(1e-30f), "a floor that would be subnormal is none");
    }

    private static boolean subnormal(float x) {
        return x != 0 && Math.abs(x) < Float.MIN_NORMAL;
    }

    private static MultiLayerConfiguration stack(IUpdater updater) {
        return new NeuralNetConfiguration.Builder().seed(3).updater(updater).list()
                .layer(new DenseLayer.Builder().nIn(20).nOut(30).activation(Activation.RELU).build())
                .layer(new DenseLayer.Builder().nIn(30).nOut(16).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(16).nOut(4).activation(Activation.SOFTMAX).build())
                .build();
    }

    /** A graph whose middle layer has plain SGD: three updater blocks, the last Adam one starting past the first's state. */
    private static ComputationGraphConfiguration graph() {
        return new NeuralNetConfiguration.Builder().seed(5).updater(new Adam(3e-3)).graphBuilder().addInputs("in")
                .addLayer("a", new DenseLayer.Builder().nIn(20).nOut(30).activation(Activation.RELU).build(), "in")
                .addLayer("sgd", new DenseLayer.Builder().nIn(30).nOut(16).activation(Activation.RELU).updater(new Sgd(0.05)).build(), "a")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(16).nOut(4).activation(Activation.SOFTMAX).build(), "sgd")
                .setOutputs("out").build();
    }

    private static DataSet batch(int i) {
        Nd4j.getRandom().setSeed(100 + i);
        INDArray x = Nd4j.rand(DataType.FLOAT, 32, 20).subi(0.5);
        INDArray y = Nd4j.zeros(DataType.FLOAT, 32, 4);
        for (int r = 0; r < 32; r++) y.putScalar(r, (r * 7 + i) % 4, 1f);
        return new DataSet(x, y);
    }

    private static void fit(Model net, int steps) {
        for (int i = 0; i < steps; i++) {
            if (net instanceof ComputationGraph g) g.fit(batch(i));
            else ((MultiLayerNetwork) net).fit(batch(i));
        }
    }

    private static long blocks(Model net, Class<?> kind) {
        var u = (BaseMultiLayerUpdater<?>) (net instanceof ComputationGraph g ? g.getUpdater() : ((MultiLayerNetwork) net).getUpdater());
        return u.getUpdaterBlocks().stream().filter(b -> kind.isInstance(b.getGradientUpdater())).count();
    }

    @Test
    void fittingAStackWithItIsFittingWithDl4jsAdam() {
        MultiLayerNetwork lib = new MultiLayerNetwork(stack(new Adam(5e-3)));
        lib.init();
        MultiLayerNetwork java = new MultiLayerNetwork(stack(new Adam(5e-3)));
        java.init();
        assertEquals(1, JavaAdam.install(java));
        assertEquals(1, JavaAdam.install(java), "installing twice changes nothing");
        INDArray start = java.params().dup();
        fit(lib, 40);
        fit(java, 40);
        assertTrue(java.params().sub(start).amaxNumber().doubleValue() > 0.05, "the network trained");
        assertEquals(0, java.params().sub(lib.params()).amaxNumber().doubleValue(), 1e-4);
        assertEquals(lib.score(), java.score(), 1e-5);
        assertEquals(0, java.getUpdater().getStateViewArray().sub(lib.getUpdater().getStateViewArray()).amaxNumber().doubleValue(), 1e-5);
    }

    @Test
    void aGraphWithAnotherUpdaterInTheMiddleTrainsAsWithDl4j() {
        ComputationGraph lib = new ComputationGraph(graph());
        lib.init();
        ComputationGraph java = new ComputationGraph(graph());
        java.init();
        assertEquals(2, JavaAdam.install(java), "the two Adam blocks around the SGD layer");
        assertEquals(2, blocks(java, JavaAdam.class));
        INDArray sgd = java.getLayer("sgd").params().dup();
        fit(lib, 40);
        fit(java, 40);
        assertTrue(java.getLayer("sgd").params().sub(sgd).amaxNumber().doubleValue() > 0.01, "the SGD layer trained too");
        assertEquals(0, java.params().sub(lib.params()).amaxNumber().doubleValue(), 1e-4);
        assertEquals(0, java.getUpdater().getStateViewArray().sub(lib.getUpdater().getStateViewArray()).amaxNumber().doubleValue(), 1e-5);
    }

    @Test
    void otherUpdatersAreLeftToDl4j() {
        MultiLayerNetwork net = new MultiLayerNetwork(stack(new Nesterovs(0.01, 0.9)));
        net.init();
        assertEquals(0, JavaAdam.install(net));
        assertEquals(0, blocks(net, JavaAdam.class));
        MultiLayerNetwork dbl = new MultiLayerNetwork(stack(new Adam(1e-3)));
        dbl.init();
        MultiLayerNetwork d = new MultiLayerNetwork(dbl.getLayerWiseConfigurations().clone());
        d.init();
        d = d.convertDataType(DataType.DOUBLE);
        assertEquals(0, JavaAdam.install(d), "double precision keeps DL4J's op");
    }

    @Test
    void aSavedModelIsPlainDl4jWithTheTrainedAdamState() throws Exception {
        MultiLayerNetwork net = new MultiLayerNetwork(stack(new Adam(5e-3)));
        net.init();
        JavaAdam.install(net);
        fit(net, 10);
        var out = new ByteArrayOutputStream();
        ModelSerializer.writeModel(net, out, true);
        assertFalse(net.getLayerWiseConfigurations().toJson().contains("JavaAdam"));
        MultiLayerNetwork back = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(out.toByteArray()), true);
        assertEquals(net.getUpdater().getStateViewArray(), back.getUpdater().getStateViewArray());
        assertEquals(1, blocks(back, AdamUpdater.class));
        assertEquals(0, blocks(back, JavaAdam.class));
        // training goes on from the saved state the same way with either kernel
        MultiLayerNetwork again = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(out.toByteArray()), true);
        JavaAdam.install(again);
        fit(back, 5);
        fit(again, 5);
        assertEquals(0, again.params().sub(back.params()).amaxNumber().doubleValue(), 1e-4);
    }
}
