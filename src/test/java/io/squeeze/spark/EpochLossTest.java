package io.squeeze.spark;

import io.squeeze.TestModels;
import io.squeeze.TestSpark;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class EpochLossTest {
    @Test
    void theMeanOfEveryMinibatchsLossAddedInTheExecutorsTasks() {
        JavaSparkContext jsc = SparkSessions.jsc(TestSpark.get());
        EpochLoss loss = new EpochLoss(jsc);
        var net = TestModels.mlp(4, new int[]{3}, 2, 1);
        // each task adds its minibatches' scores (a deserialized copy of the listener, as DL4J's workers hold it)
        jsc.parallelize(List.of(1.0, 2.0, 3.0, 6.0), 2).foreach(s -> {
            var n = TestModels.mlp(4, new int[]{3}, 2, 1);
            n.setScore(s);
            loss.iterationDone(n, 0, 0);
        });
        assertEquals(3.0, loss.take(), 1e-12);
        net.setScore(Double.NaN); // a diverged minibatch is left out, not averaged in
        loss.iterationDone(net, 0, 0);
        net.setScore(5.0);
        loss.iterationDone(net, 1, 0);
        assertEquals(5.0, loss.take(), 1e-12, "reset after each epoch");
        assertTrue(Double.isNaN(loss.take()), "no minibatch: NaN");
    }
}
