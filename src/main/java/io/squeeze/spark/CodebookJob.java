package io.squeeze.spark;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Mask;
import io.squeeze.core.Storage;
import io.squeeze.core.TensorKey;
import io.squeeze.data.Split;
import io.squeeze.model.CodebookConstraint;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.SourceKind;
import io.squeeze.model.Surgery;
import io.squeeze.quantize.CodebookConfig;
import io.squeeze.quantize.WeightSharing;
import org.apache.spark.sql.SparkSession;
import io.squeeze.model.GraphMasks;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.PrintWriter;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code squeeze quantize --mode codebook} as a job: weight sharing (Han, Mao and Dally 2016, "Deep Compression",
 * section 3). Each layer's k-means ({@link WeightSharing}) is one executor task; the layers' weights are replaced by
 * their shared values; then, with training data, codebook fine-tuning on Spark — the same data-parallel training as
 * every fine-tuning, each shared value trained by the sum of its weights' gradients
 * ({@link io.squeeze.model.TiedGradients}, the paper's Figure 3), each layer's clusters and masks held fixed by
 * {@link CodebookConstraint} and {@link io.squeeze.model.MaskConstraint} after every update. A branching graph's
 * vertices are shared and fine-tuned the same way ({@link #runGraph}). The artifact is a float network whose weights take at
 * most 2^bits values per layer; {@link io.squeeze.artifact.PackedModel} stores such a layer as its codebook and
 * Huffman-coded indices (and relative positions, when pruned), and evaluation computes with the shared values
 * exactly.
 */
public final class CodebookJob {
    private CodebookJob() {}

    /**
     * The job as a record, stored as the artifact's {@code config}.
     *
     * @param model       the source model (qualified URI), a float network (pruned or not)
     * @param codebook    bits, per-layer overrides
     * @param distributed k-means on executors (false: in this process; the codebooks are the same)
     * @param fineTune    codebook fine-tuning (none when its epochs are 0)
     * @param evalData    data to evaluate the result against the source on, or null
     */
    public record Config(String model, CodebookConfig codebook, boolean distributed, FineTune fineTune, String evalData)
            implements JobConfig.OfModel {
        public Config {
            if (model == null || model.isBlank()) throw new BadInputException("--model must be given");
            if (codebook == null) throw new BadInputException("quantize --mode codebook needs --bits");
            fineTune = fineTune == null ? FineTune.NONE : fineTune;
        }

        @Override
        public ArtifactWriter.Content run(SparkSession spark, String out, List<String> argv, PrintWriter progress) {
            return CodebookJob.run(spark, this, out, argv, progress);
        }
    }

    /** One layer's clustering, as sent to an executor. */
    public record Task(int layer, float[] w, byte[] mask, int k) implements Serializable {
        long size() {
            return w.length;
        }

        Mask kept() {
            return mask == null ? null : Mask.fromBytes(mask, w.length);
        }
    }

    /** The shared network, each layer's clustering (layer index to clusters) and per-layer notes. */
    public record Result(MultiLayerNetwork net, Map<Integer, WeightSharing.Clusters> clusters, Map<Integer, ArtifactWriter.LayerNote> notes) {}

    /** Runs {@code c}: k-means per layer, codebook fine-tuning, evaluation against the source. */
    public static ArtifactWriter.Content run(SparkSession spark, Config c, String out, List<String> argv, PrintWriter err) {
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        Loaded srcRun = Models.loadRunnable(st, c.model());
        if (srcRun.quant() != null)
            throw new BadInputException("quantize --mode codebook takes a float model; " + c.model() + " is already quantized (" + srcRun.quant().plan().mode() + ")");
        LoadedModel src = srcRun.model();
        Result r = share(Execution.of(SparkSessions.jsc(spark), !c.distributed()), src.net(), src.masks(), c.codebook(), err);
        MultiLayerNetwork net = r.net();
        Map<Integer, ArtifactWriter.LayerNote> notes = new TreeMap<>(r.notes());
        if (c.fineTune().runs()) {
            var ties = ties(c, src, r.clusters(), err);
            MultiLayerNetwork tuned = PruneJob.fineTune(spark, net, src.masks(), ties, src, c.fineTune(), Split.TRAIN, !c.distributed(), c.evalData(), err);
            Map<Integer, float[]> tied = new TreeMap<>();
            r.clusters().forEach((l, cl) -> tied.put(l, CodebookConstraint.tie(Surgery.values(tuned, l, "W"), cl.assignment(), cl.centroids().length)));
            net = Surgery.withWeights(tuned, tied); // exact ties, whatever the last averaging did
        }
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, c.evalData(), Split.TEST,
                Loaded.plain(new LoadedModel(net, src.meta(), "", out, SourceKind.ARTIFACT, 0, src.masks())), srcRun);
        return new ArtifactWriter.Content(net, src.meta(), new ArtifactWriter.Provenance(src.source(), src.sha256(), argv, Jobs.toMap(c)),
                notes, metrics, src.masks());
    }

    /** Clusters every chosen layer's kept weights (a task per layer) and returns the network with shared weights. */
    public static Result share(Execution exec, MultiLayerNetwork net, Map<TensorKey, Mask> masks, CodebookConfig cfg, PrintWriter err) {
        return share(exec, net, masks, cfg, DISTRIBUTED_ABOVE, err);
    }

    /** Layers with more weights than this run Lloyd's passes over chunks on the executors instead of in one task. */
    public static final long DISTRIBUTED_ABOVE = 4L * WeightSharing.CHUNK;

    /** One chunk of a large layer: its weights and kept bits, kept on an executor across Lloyd's passes. */
    public record Chunk(float[] w, byte[] mask) implements Serializable {
        WeightSharing.Sums sums(float[] centroids) {
            return WeightSharing.pass(w, mask == null ? null : Mask.fromBytes(mask, w.length), 0, w.length, centroids);
        }
    }

    /**
     * A layer too large for one task: its chunks stay on the executors, and each Lloyd iteration is one pass over them
     * that sends the centroids and returns each chunk's sums, merged on the driver in chunk order — the same sums, so
     * the same centroids, as {@link WeightSharing#cluster} in one task.
     */
    public static WeightSharing.Clusters distributedLloyd(Execution exec, Task t, PrintWriter err) {
        Mask kept = t.kept();
        float[] distinct = WeightSharing.distinct(t.w(), kept, t.k());
        if (distinct != null) return WeightSharing.cluster(t.w(), kept, t.k(), WeightSharing.MAX_ITERATIONS);
        List<Chunk> chunks = new ArrayList<>();
        for (int from = 0; from < t.w().length; from += WeightSharing.CHUNK) {
            int to = Math.min(t.w().length, from + WeightSharing.CHUNK);
            byte[] m = null;
            if (kept != null) {
                boolean[] b = new boolean[to - from];
                for (int i = from; i < to; i++) b[i - from] = kept.kept(i);
                m = Mask.of(b).toBytes();
            }
            chunks.add(new Chunk(java.util.Arrays.copyOfRange(t.w(), from, to), m));
        }
        float[] range = WeightSharing.range(t.w(), kept, 0, t.w().length);
        int[] passes = {0};
        try (Execution.Resident<Chunk> resident = exec.keep(chunks, "quantize: Lloyd passes over layer " + t.layer())) {
            WeightSharing.Lloyd l = WeightSharing.lloyd(WeightSharing.linear(range[0], range[1], t.k()), WeightSharing.MAX_ITERATIONS, c -> {
                WeightSharing.Sums all = null;
                for (WeightSharing.Sums s : resident.pass(c, Chunk::sums)) all = all == null ? s : all.merge(s);
                if (++passes[0] % 10 == 0) {
                    err.printf("quantize: layer %d, Lloyd pass %d over %d chunks%n", t.layer(), passes[0], chunks.size());
                    err.flush();
                }
                return all;
            });
            return WeightSharing.assign(t.w(), kept, l);
        }
    }

    /** As {@link #share(Execution, MultiLayerNetwork, Map, CodebookConfig, PrintWriter)}, layers above {@code distributedAbove} weights clustered by distributed passes. */
    public static Result share(Execution exec, MultiLayerNetwork net, Map<TensorKey, Mask> masks, CodebookConfig cfg, long distributedAbove, PrintWriter err) {
        Sharing s = cluster(exec, net.getLayers(), i -> Surgery.values(net, i, "W"), masks, cfg, distributedAbove, err);
        return new Result(Surgery.withWeights(net, s.shared()), s.clusters(), s.notes());
    }

    /** A graph's shared weights: the graph with them, each layer's clustering (by its place in {@code getLayers()}) and notes by vertex. */
    public record GraphResult(ComputationGraph graph, Map<Integer, WeightSharing.Clusters> clusters, Map<String, ArtifactWriter.LayerNote> notes) {}

    /** As {@link #share(Execution, MultiLayerNetwork, Map, CodebookConfig, PrintWriter)} for a branching graph (layers chosen by vertex name). */
    public static GraphResult shareGraph(Execution exec, ComputationGraph g, Map<TensorKey, Mask> masks, CodebookConfig cfg, PrintWriter err) {
        Sharing s = cluster(exec, g.getLayers(), i -> GraphMasks.values(g, i, "W"), masks, cfg, DISTRIBUTED_ABOVE, err);
        ComputationGraph out = g.clone();
        s.shared().forEach((i, v) -> assign(out, i, v));
        List<String> names = GraphMasks.names(g);
        Map<String, ArtifactWriter.LayerNote> notes = new LinkedHashMap<>();
        s.notes().forEach((i, n) -> notes.put(names.get(i), n));
        return new GraphResult(out, s.clusters(), notes);
    }

    /** Each layer's clusters as the ties codebook fine-tuning holds (announced on {@code err}). */
    private static Map<Integer, Map<String, CodebookConstraint.Assignment>> ties(Config c, LoadedModel src, Map<Integer, WeightSharing.Clusters> clusters,
                                                                               PrintWriter err) {
        err.printf("quantize: codebook fine-tuning %d epochs on %s, clusters%s fixed%n", c.fineTune().epochs(), c.fineTune().data(),
                src.masks().isEmpty() ? "" : " and masks");
        err.flush();
        Map<Integer, Map<String, CodebookConstraint.Assignment>> ties = new TreeMap<>();
        clusters.forEach((l, cl) -> ties.put(l, Map.of("W", new CodebookConstraint.Assignment(cl.assignment(), cl.centroids().length))));
        return ties;
    }

    private static void assign(ComputationGraph g, int layer, float[] w) {
        INDArray target = g.getLayers()[layer].paramTable().get("W");
        target.assign(Nd4j.create(w, target.shape(), 'c'));
    }

    /**
     * {@code quantize --mode codebook} of a branching graph: its vertices' weights shared (k-means on executors), codebook
     * fine-tuning of the graph on Spark with the clusters (and a pruned graph's masks) held, evaluation against the
     * source; what its artifact holds (each shared tensor stored as its codebook and Huffman-coded indices).
     */
    public static ArtifactWriter.GraphContent runGraph(SparkSession spark, Config c, LoadedModel src, List<String> argv, PrintWriter err) {
        GraphResult r = shareGraph(Execution.of(SparkSessions.jsc(spark), !c.distributed()), src.graph(), src.masks(), c.codebook(), err);
        ComputationGraph g = r.graph();
        if (c.fineTune().runs()) {
            var ties = ties(c, src, r.clusters(), err);
            g = c.fineTune().graph(spark, g, src.masks(), ties, src, Split.TRAIN, !c.distributed(), c.evalData(), err);
            ComputationGraph tuned = g;
            r.clusters().forEach((l, cl) -> assign(tuned, l, CodebookConstraint.tie(GraphMasks.values(tuned, l, "W"), cl.assignment(), cl.centroids().length)));
        }
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, c.evalData(), Split.TEST,
                Loaded.plain(new LoadedModel(null, src.meta(), "", "codebook", SourceKind.ARTIFACT, 0, src.masks(), g)), Loaded.plain(src));
        return new ArtifactWriter.GraphContent(g, src.meta(), new ArtifactWriter.Provenance(c.model(), src.sha256(), argv, Jobs.toMap(c)),
                r.notes(), metrics, src.masks(), null);
    }

    /** Refuses a {@code --layer-precision} selector that names no layer with weights (a graph's by vertex name). */
    public static void checkOverrides(org.deeplearning4j.nn.api.Layer[] layers, CodebookConfig cfg) {
        for (CodebookConfig.LayerBits o : cfg.overrides()) {
            boolean any = false;
            for (int i = 0; i < layers.length && !any; i++)
                any = layers[i].paramTable().containsKey("W") && o.layers().matches(i, layers[i].conf().getLayer().getLayerName());
            o.layers().requireMatch(any, "--layer-precision");
        }
    }

    /** Every chosen layer's clustering, its shared weights and notes, by layer index. */
    private record Sharing(Map<Integer, WeightSharing.Clusters> clusters, Map<Integer, float[]> shared, Map<Integer, ArtifactWriter.LayerNote> notes) {}

    /** Clusters the kept weights of every chosen layer of {@code layers} ({@code weights}: a layer's W in C order), a task per layer. */
    private static Sharing cluster(Execution exec, org.deeplearning4j.nn.api.Layer[] layers, java.util.function.IntFunction<float[]> weights,
                                   Map<TensorKey, Mask> masks, CodebookConfig cfg, long distributedAbove, PrintWriter err) {
        checkOverrides(layers, cfg);
        List<Task> tasks = new ArrayList<>();
        for (int i = 0; i < layers.length; i++) {
            if (layers[i].paramTable().get("W") == null) continue;
            int bits = cfg.bitsOf(i, layers[i].conf().getLayer().getLayerName());
            if (bits == 0) continue;
            Mask m = masks.get(new TensorKey(i, "W"));
            tasks.add(new Task(i, weights.apply(i), m == null ? null : m.toBytes(), 1 << bits));
        }
        if (tasks.isEmpty()) throw new BadInputException("quantize --mode codebook: no layer with weights is left to share (every layer is fp32)");
        long t0 = System.nanoTime();
        List<Task> small = tasks.stream().filter(t -> t.size() <= distributedAbove).toList();
        List<WeightSharing.Clusters> smallDone = exec.map(small, Task::size, t -> WeightSharing.cluster(t.w(), t.kept(), t.k(), WeightSharing.MAX_ITERATIONS),
                "quantize: k-means of " + small.size() + " layers");
        var fromSmall = smallDone.iterator(); // small tasks' results come back in task order
        List<WeightSharing.Clusters> done = new ArrayList<>();
        for (Task t : tasks) done.add(t.size() <= distributedAbove ? fromSmall.next() : distributedLloyd(exec, t, err));
        err.printf("quantize: k-means of %d layers in %.1f s%n", tasks.size(), (System.nanoTime() - t0) / 1e9);
        err.flush();
        Map<Integer, WeightSharing.Clusters> clusters = new TreeMap<>();
        Map<Integer, float[]> shared = new TreeMap<>();
        Map<Integer, ArtifactWriter.LayerNote> notes = new TreeMap<>();
        for (int j = 0; j < tasks.size(); j++) {
            Task t = tasks.get(j);
            WeightSharing.Clusters cl = done.get(j);
            clusters.put(t.layer(), cl);
            shared.put(t.layer(), cl.shared());
            long kept = java.util.Arrays.stream(cl.assignment()).filter(a -> a >= 0).count();
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("bits", Integer.numberOfTrailingZeros(t.k()));
            d.put("clusters", cl.centroids().length);
            d.put("weights", kept);
            d.put("iterations", cl.iterations());
            d.put("mse", kept == 0 ? 0.0 : cl.sse() / kept);
            notes.put(t.layer(), new ArtifactWriter.LayerNote("codebook", d));
        }
        return new Sharing(clusters, shared, notes);
    }
}
