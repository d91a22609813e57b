package io.squeeze.spark;

import io.squeeze.data.Example;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.broadcast.Broadcast;
import scala.Tuple2;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.ToLongFunction;

/**
 * Where a job's heavy work runs: on Spark's executors, or in this process ({@code --local}). Two shapes of work cover
 * the jobs' passes, each with both implementations running the same kernel code:
 * <ul>
 *   <li>{@link #map}: independent tasks over a list (one per tensor or layer: masks, SVDs), results in list order;</li>
 *   <li>{@link #fold}: a pass over data rows in which each partition folds its rows into a value and the values merge
 *       (calibration statistics, evaluation metrics: MLlib's {@code treeAggregate} of a mergeable value).</li>
 * </ul>
 * {@link #share} hands a read-only value to that work: a broadcast on Spark (destroyed by {@link Shared#close}), the
 * value itself in process. {@link #keep} holds a list of items where the tasks run for iterative passes.
 */
public sealed interface Execution permits Execution.OnSpark, Execution.InProcess {

    /** Executors of {@code jsc}, or this process when {@code local}. */
    static Execution of(JavaSparkContext jsc, boolean local) {
        return local ? new InProcess() : new OnSpark(jsc);
    }

    /** {@code task} applied to every item, results in item order; on Spark one task per item, the largest first. */
    <T extends Serializable, R> List<R> map(List<T> items, ToLongFunction<T> size, Function<T, R> task, String what);

    /** Every partition of {@code rows} folded by {@code partition} into one value, the values merged by {@code merge}. */
    <V> V fold(JavaRDD<Example> rows, Function<java.util.Iterator<Example>, V> partition, Function2<V, V, V> merge, String what);

    /** A read-only value for the tasks of this execution. */
    <T> Shared<T> share(T value);

    /**
     * {@code items} kept where the tasks run (cached on the executors) for repeated passes, each of which sends only a
     * small value: an iterative algorithm over data too large to ship every time (Lloyd's passes over a huge layer).
     */
    <T extends Serializable> Resident<T> keep(List<T> items, String what);

    /** Items kept for repeated passes; closing releases them. */
    interface Resident<T> extends AutoCloseable {
        /** {@code f} of every item with {@code value}, results in item order. */
        <S extends Serializable, R> List<R> pass(S value, Function2<T, S, R> f);

        @Override
        void close();
    }

    /** A value shared with tasks; closing it releases it on the executors. */
    interface Shared<T> extends Serializable, AutoCloseable {
        T value();

        @Override
        void close();
    }

    /** On Spark's executors. */
    record OnSpark(JavaSparkContext jsc) implements Execution {
        @Override
        public <T extends Serializable, R> List<R> map(List<T> items, ToLongFunction<T> size, Function<T, R> task, String what) {
            List<Tuple2<Integer, T>> indexed = new ArrayList<>();
            for (int i = 0; i < items.size(); i++) indexed.add(new Tuple2<>(i, items.get(i)));
            indexed.sort(Comparator.comparingLong((Tuple2<Integer, T> t) -> size.applyAsLong(t._2())).reversed());
            if (indexed.isEmpty()) return List.of();
            jsc.setJobDescription("squeeze: " + what);
            try {
                // ND4J keeps the process's thread count here: a per-tensor task then computes bit for bit what the
                // in-process path computes (an SVD's sums depend on BLAS's threading)
                List<Tuple2<Integer, R>> done = jsc.parallelize(indexed, indexed.size()).map(t -> new Tuple2<>(t._1(), task.call(t._2()))).collect();
                List<R> out = new ArrayList<>(java.util.Collections.nCopies(items.size(), null));
                for (Tuple2<Integer, R> t : done) out.set(t._1(), t._2());
                return out;
            } finally {
                jsc.clearJobGroup();
            }
        }

        @Override
        public <V> V fold(JavaRDD<Example> rows, Function<java.util.Iterator<Example>, V> partition, Function2<V, V, V> merge, String what) {
            jsc.setJobDescription("squeeze: " + what);
            try {
                return rows.mapPartitions(it -> {
                    Nd4jThreads.forTask();
                    return List.of(partition.call(it)).iterator();
                }).treeReduce(merge);
            } finally {
                jsc.clearJobGroup();
                if (jsc.isLocal()) Nd4jThreads.all();
            }
        }

        @Override
        public <T> Shared<T> share(T value) {
            return new Broadcasted<>(jsc.broadcast(value));
        }

        @Override
        public <T extends Serializable> Resident<T> keep(List<T> items, String what) {
            List<Tuple2<Integer, T>> indexed = new ArrayList<>();
            for (int i = 0; i < items.size(); i++) indexed.add(new Tuple2<>(i, items.get(i)));
            JavaRDD<Tuple2<Integer, T>> rdd = jsc.parallelize(indexed, Math.max(1, indexed.size())).persist(org.apache.spark.storage.StorageLevel.MEMORY_ONLY());
            return new Cached<>(jsc, rdd, items.size(), what);
        }

        /** Items cached on the executors; each pass broadcasts its value and collects the results by index. */
        private record Cached<T>(JavaSparkContext jsc, JavaRDD<Tuple2<Integer, T>> rdd, int size, String what) implements Resident<T> {
            @Override
            public <S extends Serializable, R> List<R> pass(S value, Function2<T, S, R> f) {
                Broadcast<S> b = jsc.broadcast(value);
                jsc.setJobDescription("squeeze: " + what);
                try {
                    List<Tuple2<Integer, R>> done = rdd.map(t -> new Tuple2<>(t._1(), f.call(t._2(), b.value()))).collect();
                    List<R> out = new ArrayList<>(java.util.Collections.nCopies(size, null));
                    for (Tuple2<Integer, R> t : done) out.set(t._1(), t._2());
                    return out;
                } finally {
                    jsc.clearJobGroup();
                    b.destroy();
                }
            }

            @Override
            public void close() {
                rdd.unpersist(false);
            }
        }

        /** A broadcast (a static record: a task's closure must not capture the Spark context). */
        private record Broadcasted<T>(Broadcast<T> broadcast) implements Shared<T> {
            @Override
            public T value() {
                return broadcast.value();
            }

            @Override
            public void close() {
                broadcast.destroy();
            }
        }
    }

    /** In this process: the rows stream to the driver ({@code toLocalIterator}), one partition after another. */
    record InProcess() implements Execution {
        @Override
        public <T extends Serializable, R> List<R> map(List<T> items, ToLongFunction<T> size, Function<T, R> task, String what) {
            List<R> out = new ArrayList<>();
            try {
                for (T t : items) out.add(task.call(t));
            } catch (Exception e) {
                throw rethrow(e);
            }
            return out;
        }

        @Override
        public <V> V fold(JavaRDD<Example> rows, Function<java.util.Iterator<Example>, V> partition, Function2<V, V, V> merge, String what) {
            try {
                return partition.call(rows.toLocalIterator());
            } catch (Exception e) {
                throw rethrow(e);
            }
        }

        @Override
        public <T> Shared<T> share(T value) {
            return new Local<>(value);
        }

        private record Local<T>(T value) implements Shared<T> {
            @Override
            public void close() {}
        }

        @Override
        public <T extends Serializable> Resident<T> keep(List<T> items, String what) {
            return new Held<>(List.copyOf(items));
        }

        private record Held<T>(List<T> items) implements Resident<T> {
            @Override
            public <S extends Serializable, R> List<R> pass(S value, Function2<T, S, R> f) {
                List<R> out = new ArrayList<>();
                try {
                    for (T t : items) out.add(f.call(t, value));
                } catch (Exception e) {
                    throw rethrow(e);
                }
                return out;
            }

            @Override
            public void close() {}
        }

        private static RuntimeException rethrow(Exception e) {
            return e instanceof RuntimeException r ? r : new IllegalStateException(e);
        }
    }
}
