package io.squeeze.model;

import io.squeeze.TestModels;
import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.HashSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class CodebookConstraintTest {

    @Test
    void tieSetsEachClusterToItsMeanAndLeavesPrunedWeights() {
        float[] w = {1f, 2f, 10f, 20f, 7f};
        int[] c = {0, 0, 1, 1, -1};
        assertArrayEquals(new float[]{1.5f, 1.5f, 15f, 15f, 7f}, CodebookConstraint.tie(w, c, 3));
    }

    @Test
    @SuppressWarnings("unchecked")
    void trainingKeepsWeightsSharedAndPrunedAfterAJsonRoundTripOfTheConfiguration() {
        MultiLayerNetwork net = TestModels.mlp(16, new int[]{12}, 3, 5);
        int n = 16 * 12;
        int[] cluster = new int[n];
        boolean[] keep = new boolean[n];
        Random r = new Random(1);
        float[] w = new float[n];
        float[] book = {-0.3f, -0.1f, 0.1f, 0.3f};
        for (int i = 0; i < n; i++) {
            keep[i] = i % 5 != 0;
            cluster[i] = keep[i] ? r.nextInt(4) : -1;
            w[i] = keep[i] ? book[cluster[i]] : 0f;
        }
        net = Surgery.withWeights(net, Map.of(0, w));
        MultiLayerNetwork constrained = Surgery.withConstraints(net, Map.of(new TensorKey(0, "W"), Mask.of(keep)),
                Map.of(0, Map.of("W", new CodebookConstraint.Assignment(cluster, 4))));
        // the constraints travel in the configuration, as to executors
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(constrained.getLayerWiseConfigurations().toJson());
        MultiLayerNetwork trained = new MultiLayerNetwork(back);
        trained.init(constrained.params().dup(), false);
        float[] xs = new float[32 * 16];
        Random rx = new Random(2);
        for (int i = 0; i < xs.length; i++) xs[i] = rx.nextFloat();
        var x = Nd4j.create(xs, new long[]{32, 16}, 'c');
        var y = Nd4j.zeros(32, 3);
        for (int i = 0; i < 32; i++) y.putScalar(i, i % 3, 1);
        for (int step = 0; step < 20; step++) trained.fit(new DataSet(x, y));
        float[] after = trained.getLayer(0).getParam("W").dup('c').data().asFloat();
        Set<Float>[] values = new Set[4];
        for (int k = 0; k < 4; k++) values[k] = new HashSet<>();
        for (int i = 0; i < n; i++) {
            if (!keep[i]) assertEquals(0.0, after[i], 0.0, "pruned " + i);
            else values[cluster[i]].add(after[i]);
        }
        boolean moved = false;
        for (int k = 0; k < 4; k++) {
            assertEquals(1, values[k].size(), "cluster " + k + " shares one value: " + values[k]);
            moved |= values[k].iterator().next() != book[k];
        }
        assertTrue(moved, "the shared values train");
        MultiLayerNetwork clean = Surgery.withoutMaskConstraints(trained);
        assertNull(clean.getLayer(0).conf().getLayer().getConstraints());
    }
}
