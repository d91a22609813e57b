package io.squeeze.spark;

import io.squeeze.prune.Amount;
import io.squeeze.prune.Chunk;
import io.squeeze.core.Mask;
import io.squeeze.prune.PruneMethod;
import io.squeeze.prune.Pruner;
import io.squeeze.prune.RadixHistogram;
import io.squeeze.prune.Selection;
import io.squeeze.prune.Target;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Computes masks on executors: every tensor becomes one partition (largest first, so no executor is left
 * waiting on the biggest layer at the end), scores are split into chunks there, and the selection passes of
 * {@link Selection} run as Spark jobs whose mergeable histograms are reduced by key. The driver never holds the
 * weights, only 65,536-bin histograms and the final bitmaps. Masks equal {@link Pruner#masks}.
 */
public final class SparkPruner {
    private SparkPruner() {}

    public static Map<Integer, Mask> masks(JavaSparkContext jsc, List<Target> targets, PruneMethod m, Amount global, int chunkSize) {
        if (m instanceof PruneMethod.PerTensor) return PruneJob.masks(new Execution.OnSpark(jsc), targets, m, global, chunkSize);
        for (Target t : targets) m.check(t); // fail fast, in order
        List<Target> bySize = new ArrayList<>(targets);
        bySize.sort(Comparator.comparingInt(Target::size).reversed());
        JavaRDD<Target> rdd = jsc.parallelize(bySize, bySize.size());
        jsc.setJobDescription("squeeze prune: " + m.label() + " on " + targets.size() + " tensors");
        try {
            PruneMethod.Selecting s = (PruneMethod.Selecting) m;
            JavaRDD<Chunk> chunks = rdd.flatMap(t -> Pruner.chunks(t, s, chunkSize).iterator())
                    .persist(StorageLevel.MEMORY_AND_DISK());
            try {
                Selection.Result r = Selection.run(runner(jsc, chunks), (g, n) -> Pruner.toPrune(s, targets, global, g, n));
                return Pruner.combine(targets, r.pruned(), chunkSize);
            } finally {
                chunks.unpersist(false);
            }
        } finally {
            jsc.clearJobGroup();
        }
    }

    static Selection.Runner runner(JavaSparkContext jsc, JavaRDD<Chunk> chunks) {
        return new Selection.Runner() {
            @Override
            public Map<Integer, RadixHistogram> high() {
                return new TreeMap<>(chunks.mapToPair(c -> new Tuple2<>(c.group(), c.high())).reduceByKey(RadixHistogram::merge).collectAsMap());
            }

            @Override
            public Map<Integer, RadixHistogram> low(Map<Integer, Integer> highBin) {
                Broadcast<HashMap<Integer, Integer>> b = jsc.broadcast(new HashMap<>(highBin));
                try {
                    return new TreeMap<>(chunks.filter(c -> b.value().containsKey(c.group()))
                            .mapToPair(c -> new Tuple2<>(c.group(), c.low(b.value().get(c.group())))).reduceByKey(RadixHistogram::merge).collectAsMap());
                } finally {
                    b.destroy();
                }
            }

            @Override
            public Map<Long, Long> equal(Map<Integer, Float> threshold) {
                HashMap<Integer, Float> t = new HashMap<>(threshold);
                return new HashMap<>(chunks.filter(c -> t.containsKey(c.group()))
                        .mapToPair(c -> new Tuple2<>(c.id(), Selection.encode(c.group(), c.equalTo(t.get(c.group()))))).collectAsMap());
            }

            @Override
            public Map<Long, boolean[]> prune(Map<Integer, Float> threshold, Map<Long, Long> quota) {
                HashMap<Integer, Float> t = new HashMap<>(threshold);
                HashMap<Long, Long> q = new HashMap<>(quota);
                Map<Long, Tuple2<Integer, byte[]>> bits = chunks.filter(c -> t.containsKey(c.group())).mapToPair(c -> {
                    boolean[] p = c.pruned(t.get(c.group()), q.getOrDefault(c.id(), 0L));
                    return new Tuple2<>(c.id(), new Tuple2<>(p.length, Mask.of(p).toBytes()));
                }).collectAsMap();
                Map<Long, boolean[]> out = new HashMap<>();
                bits.forEach((id, v) -> {
                    Mask mk = Mask.fromBytes(v._2(), v._1());
                    boolean[] p = new boolean[v._1()];
                    for (int i = 0; i < p.length; i++) p[i] = mk.kept(i);
                    out.put(id, p);
                });
                return out;
            }
        };
    }
}
