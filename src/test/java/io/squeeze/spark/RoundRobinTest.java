package io.squeeze.spark;

import io.squeeze.TestSpark;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** {@link RoundRobin#spread} deals rows exactly as {@code repartition} does in local mode: same partitions, same order. */
class RoundRobinTest {
    @Test
    void spreadIsRepartitionInLocalModeRowForRow() {
        JavaSparkContext jsc = SparkSessions.jsc(TestSpark.get());
        for (int[] shape : new int[][]{{1000, 5, 2}, {997, 3, 4}, {10, 4, 3}, {50, 1, 7}}) {
            JavaRDD<Integer> rows = jsc.parallelize(IntStream.range(0, shape[0]).boxed().toList(), shape[1]);
            List<List<Integer>> expected = rows.repartition(shape[2]).glom().collect(), got = RoundRobin.spread(rows, shape[2]).glom().collect();
            assertEquals(expected, got, shape[0] + " rows in " + shape[1] + " partitions to " + shape[2]);
            assertEquals(shape[2], got.size());
        }
        // the rows really are dealt round-robin, not kept in place
        List<List<Integer>> dealt = RoundRobin.spread(jsc.parallelize(IntStream.range(0, 8).boxed().toList(), 1), 2).glom().collect();
        assertEquals(4, dealt.get(0).size());
        assertNotEquals(List.of(0, 1, 2, 3), dealt.get(0));
    }
}
