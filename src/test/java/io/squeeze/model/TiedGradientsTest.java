package io.squeeze.model;

import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Codebook fine-tuning trains each shared value by its cluster's summed gradient (Han, Mao and Dally 2016, Figure 3). */
public class TiedGradientsTest {
    public static final float[] BOOK = {-0.3f, -0.1f, 0.1f, 0.3f};
    static final int IN = 16, HIDDEN = 12, N = IN * HIDDEN;

    @Test
    void everyWeightGetsItsClustersSumAndAPrunedWeightNone() {
        float[] g = {1f, 2f, 10f, 20f, 7f, 0.5f};
        int[] c = {0, 0, 1, 1, -1, 0};
        assertArrayEquals(new float[]{3.5f, 3.5f, 30f, 30f, 0f, 3.5f}, CodebookConstraint.sumGradients(g, c, 2));
    }

    /**
     * One SGD step moves every shared value by the learning rate times the sum of its weights' gradients (DL4J's
     * gradient is summed over the minibatch's rows; its updater divides by their number).
     */
    @Test
    void withSgdAStepMovesEachSharedValueByTheSumOfItsWeightsGradients() {
        double lr = 0.05;
        Setup s = setup(new Sgd(lr), 1);
        MultiLayerNetwork plain = s.plain(), tied = s.tied();
        tied.setListeners(new TiedGradients());
        DataSet batch = batch(32, 2);
        INDArray g0 = gradient(plain, batch, "0_W"), g1 = gradient(plain, batch, "1_W");
        float[] w1 = plain.getLayer(1).getParam("W").dup('c').data().asFloat();
        tied.fit(batch);
        double[] sum = s.clusterSums(g0);
        float[] after = tied.getLayer(0).getParam("W").dup('c').data().asFloat();
        for (int i = 0; i < N; i++) {
            double want = s.cluster[i] < 0 ? 0 : BOOK[s.cluster[i]] - lr * sum[s.cluster[i]] / 32;
            assertEquals(want, after[i], 2e-6, "weight " + i);
        }
        // the layer without a codebook trains as usual
        float[] gl = g1.dup('c').data().asFloat(), a1 = tied.getLayer(1).getParam("W").dup('c').data().asFloat();
        for (int i = 0; i < gl.length; i++) assertEquals(w1[i] - lr * gl[i] / 32, a1[i], 1e-6, "layer 1 weight " + i);
        // a sum, not a mean: the largest cluster moved further than any one weight's own step (a mean never would)
        int big = 0;
        for (int k = 1; k < 4; k++) if (Math.abs(sum[k]) > Math.abs(sum[big])) big = k;
        assertTrue(Math.abs(sum[big]) > g0.amaxNumber().doubleValue(), "sum " + sum[big] + " vs max " + g0.amaxNumber());
    }

    /**
     * With Adam every weight of a cluster sees the same (summed) gradient: its first step is the learning rate against
     * the sum's sign for each cluster (where averaging each weight's own Adam step would move it less); the clusters
     * keep training as one value each.
     */
    @Test
    void withAdamTheWeightsOfAClusterTakeOneStepTogetherAgainstTheSumsSign() {
        double lr = 0.01;
        Setup s = setup(new Adam(lr), 2);
        MultiLayerNetwork plain = s.plain(), tied = s.tied();
        tied.setListeners(new TiedGradients());
        DataSet batch = batch(32, 3);
        double[] sum = s.clusterSums(gradient(plain, batch, "0_W"));
        tied.fit(batch);
        float[] after = tied.getLayer(0).getParam("W").dup('c').data().asFloat();
        for (int i = 0; i < N; i++) {
            if (s.cluster[i] < 0) {
                assertEquals(0f, after[i], "pruned " + i);
                continue;
            }
            double step = after[i] - BOOK[s.cluster[i]];
            assertEquals(-Math.signum(sum[s.cluster[i]]) * lr, step, lr * 1e-3, "weight " + i + " of cluster " + s.cluster[i]);
        }
        // and they keep training together
        for (int step = 0; step < 15; step++) tied.fit(batch(32, 10 + step));
        float[] w = tied.getLayer(0).getParam("W").dup('c').data().asFloat();
        float[] first = {Float.NaN, Float.NaN, Float.NaN, Float.NaN};
        for (int i = 0; i < N; i++) {
            if (s.cluster[i] < 0) continue;
            if (Float.isNaN(first[s.cluster[i]])) first[s.cluster[i]] = w[i];
            assertEquals(first[s.cluster[i]], w[i], 0f, "weight " + i);
        }
        for (int k = 0; k < 4; k++) assertNotEquals(BOOK[k], first[k], "cluster " + k + " trained");
    }

    /** A graph's weight-shared vertex (its gradient keyed by vertex name) trains the same way, through the graph's constraints. */
    @Test
    void inAGraphAStepMovesEachSharedValueByTheSumOfItsWeightsGradients() {
        double lr = 0.05;
        Setup s = setup(new Sgd(lr), 4);
        DataSet batch = batch(32, 5);
        double[] sum = s.clusterSums(gradient(s.plain(), batch, "0_W"));
        var g = s.plain().toComputationGraph();
        var tied = GraphMasks.withConstraints(g, Map.of(new TensorKey(0, "W"), Mask.of(s.keep())),
                Map.of(0, Map.of("W", new CodebookConstraint.Assignment(s.cluster(), 4))));
        assertTrue(TiedGradients.needed(tied));
        assertFalse(TiedGradients.needed(g));
        tied.setListeners(new TiedGradients());
        tied.fit(batch);
        float[] after = tied.getLayers()[0].getParam("W").dup('c').data().asFloat();
        for (int i = 0; i < N; i++) {
            double want = s.cluster()[i] < 0 ? 0 : BOOK[s.cluster()[i]] - lr * sum[s.cluster()[i]] / 32;
            assertEquals(want, after[i], 2e-6, "weight " + i);
        }
    }

    @Test
    void onlyNetworksWithACodebookNeedIt() {
        Setup s = setup(new Sgd(0.1), 1);
        assertTrue(TiedGradients.needed(s.tied()));
        assertFalse(TiedGradients.needed(s.plain()));
        assertFalse(TiedGradients.needed(Surgery.withConstraints(s.plain(), Map.of(new TensorKey(0, "W"), Mask.of(s.keep)), Map.of())));
    }

    /** A two-layer network whose first layer is weight-shared (4 values, a fifth of the weights pruned). */
    public record Setup(MultiLayerNetwork plain, int[] cluster, boolean[] keep) {
        /** The sum over each cluster of the gradient {@code g} of the weight-shared layer. */
        public double[] clusterSums(INDArray g) {
            float[] v = g.dup('c').data().asFloat();
            double[] sum = new double[4];
            for (int i = 0; i < N; i++) if (cluster[i] >= 0) sum[cluster[i]] += v[i];
            return sum;
        }

        public MultiLayerNetwork tied() {
            return Surgery.withConstraints(plain, Map.of(new TensorKey(0, "W"), Mask.of(keep)),
                    Map.of(0, Map.of("W", new CodebookConstraint.Assignment(cluster, 4))));
        }
    }

    public static Setup setup(IUpdater updater, long seed) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(seed).updater(updater).list()
                .layer(new DenseLayer.Builder().nIn(IN).nOut(HIDDEN).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(HIDDEN).nOut(3).activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        int[] cluster = new int[N];
        boolean[] keep = new boolean[N];
        float[] w = new float[N];
        Random r = new Random(seed);
        for (int i = 0; i < N; i++) {
            keep[i] = i % 5 != 0;
            cluster[i] = keep[i] ? r.nextInt(4) : -1;
            w[i] = keep[i] ? BOOK[cluster[i]] : 0f;
        }
        return new Setup(Surgery.withWeights(net, Map.of(0, w)), cluster, keep);
    }

    public static DataSet batch(int rows, long seed) {
        Random r = new Random(seed);
        float[] xs = new float[rows * IN];
        for (int i = 0; i < xs.length; i++) xs[i] = (float) r.nextGaussian();
        INDArray y = Nd4j.zeros(rows, 3);
        for (int i = 0; i < rows; i++) y.putScalar(i, (i + seed) % 3, 1);
        return new DataSet(Nd4j.create(xs, new long[]{rows, IN}, 'c'), y);
    }

    /** The gradient of {@code key}, summed over the rows of {@code d}. */
    public static INDArray gradient(MultiLayerNetwork net, DataSet d, String key) {
        MultiLayerNetwork copy = net.clone();
        copy.setInput(d.getFeatures());
        copy.setLabels(d.getLabels());
        copy.computeGradientAndScore();
        return copy.gradient().getGradientFor(key).dup();
    }
}
