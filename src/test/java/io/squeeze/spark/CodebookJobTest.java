package io.squeeze.spark;

import io.squeeze.TestModels;
import io.squeeze.TestSpark;
import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import io.squeeze.quantize.CodebookConfig;
import io.squeeze.quantize.WeightSharing;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Weight sharing's k-means on Spark executors (local[2]) gives bit for bit the codebooks of one task in this process. */
class CodebookJobTest {

    @Test
    void aLayerTooLargeForOneTaskIsClusteredByPassesOverChunksOnTheExecutorsWithTheSameCentroids() {
        Random r = new Random(12);
        int n = 2 * WeightSharing.CHUNK + 12345;
        float[] w = new float[n];
        boolean[] keep = new boolean[n];
        for (int i = 0; i < n; i++) {
            w[i] = (float) (r.nextGaussian() * 0.02);
            keep[i] = r.nextInt(10) < 3;
        }
        CodebookJob.Task t = new CodebookJob.Task(0, w, Mask.of(keep).toBytes(), 32);
        StringWriter log = new StringWriter();
        WeightSharing.Clusters spark = CodebookJob.distributedLloyd(Execution.of(SparkSessions.jsc(TestSpark.get()), false), t, new PrintWriter(log, true));
        WeightSharing.Clusters one = WeightSharing.cluster(w, Mask.of(keep), 32, WeightSharing.MAX_ITERATIONS);
        assertArrayEquals(one.centroids(), spark.centroids());
        assertArrayEquals(one.assignment(), spark.assignment());
        assertEquals(one.iterations(), spark.iterations());
        assertEquals(one.sse(), spark.sse());
        assertTrue(one.iterations() > 5, "iterations " + one.iterations());
        assertTrue(log.toString().contains("Lloyd pass 10 over 3 chunks"), log.toString());
    }

    @Test
    void sharingOnExecutorsInProcessAndByDistributedPassesAgree() {
        MultiLayerNetwork net = TestModels.mlp(64, new int[]{32}, 10, 3);
        boolean[] keep = new boolean[64 * 32];
        for (int i = 0; i < keep.length; i++) keep[i] = i % 3 != 0;
        Map<TensorKey, Mask> masks = Map.of(new TensorKey(0, "W"), Mask.of(keep));
        CodebookConfig cfg = new CodebookConfig(3, List.of(CodebookConfig.LayerBits.parse("1=2")));
        PrintWriter quiet = new PrintWriter(new StringWriter());
        var onSpark = CodebookJob.share(Execution.of(SparkSessions.jsc(TestSpark.get()), false), net, masks, cfg, quiet);
        var local = CodebookJob.share(Execution.of(null, true), net, masks, cfg, quiet);
        var passes = CodebookJob.share(Execution.of(SparkSessions.jsc(TestSpark.get()), false), net, masks, cfg, 100, quiet);
        for (int l = 0; l < 2; l++) {
            assertArrayEquals(local.clusters().get(l).centroids(), onSpark.clusters().get(l).centroids(), "layer " + l);
            assertArrayEquals(local.clusters().get(l).centroids(), passes.clusters().get(l).centroids(), "layer " + l);
            assertArrayEquals(local.clusters().get(l).assignment(), passes.clusters().get(l).assignment(), "layer " + l);
        }
        assertEquals(8, local.clusters().get(0).centroids().length);
        assertEquals(4, local.clusters().get(1).centroids().length);
        assertEquals(2, local.notes().get(1).details().get("bits"));
        assertArrayEquals(local.net().params().data().asFloat(), passes.net().params().data().asFloat());
        for (int i = 0; i < keep.length; i++) if (!keep[i]) assertEquals(0f, local.net().getLayer(0).getParam("W").dup('c').data().asFloat()[i]);
    }

    /**
     * Codebook fine-tuning's summed gradient reaches parameter averaging's workers: one SGD step on each of two
     * workers, then the average, gives each shared value its start minus the learning rate times the mean over the
     * two minibatches of its cluster's summed gradient (per row).
     */
    @Test
    void onSparkWorkersEachSharedValueTrainsByItsClustersSummedGradient() {
        double lr = 0.05;
        var s = io.squeeze.model.TiedGradientsTest.setup(new org.nd4j.linalg.learning.config.Sgd(lr), 4);
        var b1 = io.squeeze.model.TiedGradientsTest.batch(32, 21);
        var b2 = io.squeeze.model.TiedGradientsTest.batch(32, 22);
        double[] sum1 = s.clusterSums(io.squeeze.model.TiedGradientsTest.gradient(s.plain(), b1, "0_W"));
        double[] sum2 = s.clusterSums(io.squeeze.model.TiedGradientsTest.gradient(s.plain(), b2, "0_W"));
        var data = TestSpark.jsc().parallelize(List.of(b1, b2), 2);
        MultiLayerNetwork trained = SparkTrainer.fit(TestSpark.jsc(), data, s.tied(), new SparkTrainer.Config(1, 32, 1, 0, false), "two batches",
                new PrintWriter(new StringWriter()), (e, n) -> { });
        float[] w = trained.getLayer(0).getParam("W").dup('c').data().asFloat();
        for (int i = 0; i < w.length; i++) {
            int c = s.cluster()[i];
            double want = c < 0 ? 0 : io.squeeze.model.TiedGradientsTest.BOOK[c] - lr * (sum1[c] / 32 + sum2[c] / 32) / 2;
            assertEquals(want, w[i], 2e-6, "weight " + i + " of cluster " + c);
        }
    }
}
