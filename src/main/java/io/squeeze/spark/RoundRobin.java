package io.squeeze.spark;

import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.util.random.XORShiftRandom;
import scala.Tuple2;

import java.util.Iterator;

/**
 * Spark's {@code repartition(n)}, reproducible on a cluster. {@code repartition} deals the rows of input partition
 * {@code p} round-robin over {@code n} partitions, starting after a position drawn from {@code XORShiftRandom(p)};
 * but a reduce partition then concatenates its blocks in the order they arrive over the network, so on a cluster the
 * order of rows - hence the minibatches and the trained weights - changed from run to run and whenever a lost
 * executor's work ran again. {@link #spread} deals every row to the same partition as {@code repartition} and sorts
 * each partition by (input partition, position in it): the order in which local mode, where every block is local,
 * reads them (tested equal to {@code repartition} there). So a cluster deals the same minibatches every time.
 */
public final class RoundRobin extends Partitioner {
    private static final long serialVersionUID = 1L;
    private final int n;
    private transient java.util.Map<Integer, Integer> starts;

    RoundRobin(int n) {
        if (n < 1) throw new IllegalArgumentException("partitions must be >= 1, got " + n);
        this.n = n;
    }

    /** {@code rows} over {@code n} partitions as {@code rows.repartition(n)} in local mode, whatever the cluster. */
    public static <T> JavaRDD<T> spread(JavaRDD<T> rows, int n) {
        JavaRDD<Tuple2<Long, T>> keyed = rows.mapPartitionsWithIndex((p, it) -> new Iterator<Tuple2<Long, T>>() {
            long i;

            @Override
            public boolean hasNext() {
                return it.hasNext();
            }

            @Override
            public Tuple2<Long, T> next() {
                return new Tuple2<>(((long) p << 32) | i++, it.next());
            }
        }, true);
        return JavaPairRDD.fromJavaRDD(keyed).repartitionAndSortWithinPartitions(new RoundRobin(n)).values();
    }

    @Override
    public int numPartitions() {
        return n;
    }

    @Override
    public int getPartition(Object key) {
        long k = (Long) key;
        int p = (int) (k >>> 32);
        if (starts == null) starts = new java.util.HashMap<>();
        int start = starts.computeIfAbsent(p, q -> new XORShiftRandom(q).nextInt(n));
        // repartition's key for the i-th row is start + i + 1, which its HashPartitioner takes modulo n
        return (int) Math.floorMod(start + (k & 0xffffffffL) + 1, (long) n);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RoundRobin r && r.n == n;
    }

    @Override
    public int hashCode() {
        return n;
    }
}
