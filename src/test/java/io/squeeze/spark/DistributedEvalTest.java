package io.squeeze.spark;

import io.squeeze.TestModels;
import io.squeeze.TestSpark;
import io.squeeze.data.Example;
import io.squeeze.eval.EvalStats;
import io.squeeze.eval.Evaluator;
import io.squeeze.eval.Inference;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.SourceKind;
import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Distributed evaluation on local[2] equals the single-process kernel on the same rows. */
class DistributedEvalTest {
    @Test
    void distributedEqualsSingleProcess() {
        Random r = new Random(11);
        int nf = 12, k = 7, n = 1_003;
        List<Example> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] x = new float[nf];
            for (int j = 0; j < nf; j++) x[j] = r.nextInt(17);
            rows.add(new Example(i, x, r.nextInt(k)));
        }
        ModelMeta meta = TestModels.minmaxMeta(nf, k);
        MultiLayerNetwork a = TestModels.mlp(nf, new int[]{16}, k, 1), b = TestModels.mlp(nf, new int[]{9, 8}, k, 2);
        LoadedModel ma = new LoadedModel(a, meta, "", "a", SourceKind.DL4J_ZIP, 1), mb = new LoadedModel(b, meta, "", "b", SourceKind.DL4J_ZIP, 1);
        JavaRDD<Example> rdd = TestSpark.jsc().parallelize(rows, 5);
        SparkEvaluator.Result dist = SparkEvaluator.evaluate(TestSpark.jsc(), rdd, ma, mb, 64, "test");
        EvalStats single = Evaluator.run(rows.iterator(), new Inference(a, meta.normalizer(), k), new Inference(b, meta.normalizer(), k), 64, nf, "test");
        EvalStats d = dist.stats();
        assertEquals(n, d.rows());
        assertEquals(single.rows(), d.rows());
        for (int i = 0; i < k; i++) for (int j = 0; j < k; j++) assertEquals(single.confusion(i, j), d.confusion(i, j), "confusion " + i + "," + j);
        assertEquals(single.accuracy(), d.accuracy());
        assertEquals(single.top5(), d.top5());
        assertEquals(single.agreement(), d.agreement());
        assertEquals(single.baselineAccuracy(), d.baselineAccuracy());
        assertEquals(single.loss(), d.loss(), 1e-9 * single.loss());
        assertTrue(d.batches() >= 16 && d.batches() <= 21, "batches per partition: " + d.batches());
        assertTrue(dist.rowsPerSecond() > 0);
        // the baseline agrees with itself
        SparkEvaluator.Result self = SparkEvaluator.evaluate(TestSpark.jsc(), rdd, ma, ma, 100, "test");
        assertEquals(1.0, self.stats().agreement());
        assertEquals(self.stats().accuracy(), self.stats().baselineAccuracy());
    }
}
