package io.squeeze.spark;

import io.squeeze.core.BadInputException;
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
        List<Target> bySize = new ArrayList<>(targets);
        bySize.sort(Comparator.comparingInt(Target::size).reversed());
        return masks(jsc, targets, jsc.parallelize(bySize, Math.max(1, bySize.size())), m, global, chunkSize);
    }

    /**
     * As {@link #masks(JavaSparkContext, List, PruneMethod, Amount, int)}, the tensors' values coming from
     * {@code loaded} (read on executors): the driver's {@code plan} carries shapes, masks and amounts only.
     */
    static Map<Integer, Mask> masks(JavaSparkContext jsc, List<Target> plan, JavaRDD<Target> loaded, PruneMethod m, Amount global, int chunkSize) {
        if (plan.isEmpty()) throw new BadInputException("nothing to prune: no tensor chosen");
        for (Target t : plan) m.check(t); // fail fast, in order
        jsc.setJobDescription("squeeze prune: " + m.label() + " on " + plan.size() + " tensors");
        try {
            if (m instanceof PruneMethod.PerTensor p) {
                Map<Integer, byte[]> bits = loaded.mapToPair(t -> new Tuple2<>(t.id(), p.computeMask(t).toBytes())).collectAsMap();
                Map<Integer, Mask> out = new TreeMap<>();
                for (Target t : plan) out.put(t.id(), Mask.fromBytes(bits.get(t.id()), t.size()));
                return out;
            }
            PruneMethod.Selecting s = (PruneMethod.Selecting) m;
            JavaRDD<Chunk> chunks = loaded.flatMap(t -> Pruner.chunks(t, s, chunkSize).iterator())
                    .persist(StorageLevel.MEMORY_AND_DISK());
            try {
                Selection.Result r = Selection.run(runner(jsc, chunks), (g, n) -> Pruner.toPrune(s, plan, global, g, n));
                return Pruner.combine(plan, r.pruned(), chunkSize);
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
            public Map<Long, java.util.BitSet> prune(Map<Integer, Float> threshold, Map<Long, Long> quota) {
                HashMap<Integer, Float> t = new HashMap<>(threshold);
                HashMap<Long, Long> q = new HashMap<>(quota);
                // bits travel as bytes (Kryo's field serializer would drop BitSet's transient word count)
                Map<Long, byte[]> bits = chunks.filter(c -> t.containsKey(c.group())).mapToPair(c ->
                        new Tuple2<>(c.id(), c.pruned(t.get(c.group()), q.getOrDefault(c.id(), 0L)).toByteArray())).collectAsMap();
                Map<Long, java.util.BitSet> out = new HashMap<>();
                bits.forEach((id, b) -> out.put(id, java.util.BitSet.valueOf(b)));
                return out;
            }
        };
    }
}
