package io.squeeze.bench;

import io.squeeze.data.Example;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * Synthetic rows for the benchmarks, each a function of its index alone (its own seeded generator), so a driver-side
 * list and an RDD made on the executors hold the same rows. The RDD is generated where it is cached: a
 * {@code parallelize}d driver list would travel inside every task of every job (its partitions carry the data),
 * adding seconds of serialization per pass to the distributed side of a comparison.
 */
final class BenchRows {
    private BenchRows() {}

    /** Row {@code i}. */
    @FunctionalInterface
    interface Maker extends Serializable {
        Example row(long i);
    }

    /** MNIST-shaped: {@code features} values, 80 % zeros, the rest uniform in [0, 1); a random label of {@code classes}. */
    static Maker mnistLike(int features, int classes, long seed) {
        return i -> {
            Random r = new Random(seed * 0x9E3779B97F4A7C15L + i);
            float[] x = new float[features];
            for (int j = 0; j < features; j++) x[j] = r.nextFloat() < 0.8f ? 0f : r.nextFloat();
            return new Example(i, x, r.nextInt(classes));
        };
    }

    /** Dense: {@code features} values uniform in [0, 1); a random label of {@code classes}. */
    static Maker uniform(int features, int classes, long seed) {
        return i -> {
            Random r = new Random(seed * 0x9E3779B97F4A7C15L + i);
            float[] x = new float[features];
            for (int j = 0; j < features; j++) x[j] = r.nextFloat();
            return new Example(i, x, r.nextInt(classes));
        };
    }

    /** Rows 0 … n-1 on the driver. */
    static List<Example> list(int n, Maker m) {
        List<Example> rows = new ArrayList<>(n);
        for (int i = 0; i < n; i++) rows.add(m.row(i));
        return rows;
    }

    /** Rows 0 … n-1 made on the executors in {@code jsc.defaultParallelism()} partitions, cached and materialised. */
    static JavaRDD<Example> cached(JavaSparkContext jsc, int n, Maker m) {
        int parts = jsc.defaultParallelism();
        JavaRDD<Example> rdd = jsc.parallelize(IntStream.range(0, parts).boxed().toList(), parts).mapPartitions(it -> {
            int p = it.next();
            long from = (long) n * p / parts, to = (long) n * (p + 1) / parts;
            List<Example> rows = new ArrayList<>((int) (to - from));
            for (long i = from; i < to; i++) rows.add(m.row(i));
            return rows.iterator();
        }).persist(StorageLevel.MEMORY_ONLY());
        long count = rdd.count();
        if (count != n) throw new IllegalStateException("made " + count + " rows, expected " + n);
        return rdd;
    }
}
