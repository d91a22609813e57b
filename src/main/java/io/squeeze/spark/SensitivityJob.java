package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.core.LayerSelector;
import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.eval.EvalStats;
import io.squeeze.eval.Evaluator;
import io.squeeze.eval.Inference;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.NetPayload;
import io.squeeze.search.Probe;
import io.squeeze.search.Sensitivity;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.PrintWriter;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Per-layer sensitivity on Spark: every trial (one layer compressed at one level by a {@link Probe}, the rest of the
 * network as it is) is evaluated on the data in <em>one</em> pass ({@link Execution#fold}): each partition batches its
 * rows once and holds the batches, computes each trial's weights with the technique's kernel, swaps them into its own
 * copy of the network, runs the batches and puts the layer back; the per-trial {@link EvalStats} merge like any evaluation ({@code treeReduce}).
 * The data is read once whatever the number of trials, and is never gathered anywhere; the network travels once
 * (broadcast). That is the default ({@link Parallelism#DATA}); {@link Parallelism#TRIALS} runs slices of the trials
 * over cached rows instead. docs/BENCHMARKS.md measures both.
 */
public final class SensitivityJob {
    private SensitivityJob() {}

    /**
     * How the trials spread over the tasks. {@code DATA}: one task per partition of the data, each running every
     * trial over its rows (the data read once, the trial weights computed once per partition). {@code TRIALS}: the
     * rows cached where the tasks run, one task per slice of the trials (as many slices as the cluster has cores),
     * each running its trials over every row (the trial weights computed once, every row read by every slice).
     */
    public enum Parallelism {
        DATA, TRIALS;

        public static Parallelism parse(String s) {
            for (Parallelism p : values()) if (p.name().equalsIgnoreCase(s)) return p;
            throw new BadInputException("sensitivity --parallel must be data or trials, got '" + s + "'");
        }
    }

    /** The configured measurement. */
    public record Config(Probe probe, List<Double> levels, LayerSelector layers, int batch, Parallelism parallel) implements Serializable {
        public Config(Probe probe, List<Double> levels, LayerSelector layers, int batch) {
            this(probe, levels, layers, batch, Parallelism.DATA);
        }

        public Config {
            parallel = parallel == null ? Parallelism.DATA : parallel;
            if (probe == null) throw new BadInputException("sensitivity --technique must be given");
            levels = levels == null || levels.isEmpty() ? probe.defaultLevels() : List.copyOf(levels);
            for (double l : levels) probe.checkLevel(l);
            if (new java.util.HashSet<>(levels).size() != levels.size()) throw new BadInputException("sensitivity --levels repeat a level: " + levels);
            layers = layers == null ? LayerSelector.ALL : layers;
            if (batch <= 0) throw new BadInputException("sensitivity.batch must be > 0, got " + batch);
        }
    }

    /**
     * The weight tensors the selector chooses, a unit per layer: dense and convolution layers with weights — a stack's by
     * index, a graph's in topological order ({@code inspect}'s order), by index or vertex name — and recurrent layers'
     * input and recurrent weights W and RW together.
     */
    public static List<Probe.Unit> weights(LoadedModel m, LayerSelector sel) {
        var layers = m.layers();
        List<Probe.Unit> out = new ArrayList<>();
        for (int i = 0; i < layers.length; i++) {
            var conf = layers[i].conf().getLayer();
            if (!(conf instanceof FeedForwardLayer) || layers[i].paramTable().get("W") == null) continue;
            if (!sel.matches(i, conf.getLayerName())) continue;
            List<Probe.Weights> tensors = new ArrayList<>();
            for (String param : io.squeeze.model.Recurrent.is(conf) ? List.of("W", "RW") : List.of("W")) {
                INDArray w = layers[i].paramTable().get(param);
                float[] v = w.dup('c').data().asFloat();
                tensors.add(new Probe.Weights(i, w.shape(), v, m.masks().getOrDefault(new TensorKey(i, param), Mask.all(v.length)),
                        conf instanceof ConvolutionLayer, param));
            }
            out.add(new Probe.Unit(i, tensors));
        }
        sel.requireMatch(!out.isEmpty(), "sensitivity --layers");
        return out;
    }

    public static Sensitivity run(SparkSession spark, Execution exec, DataSpec spec, LoadedModel model, Config c, PrintWriter progress) {
        long t0 = System.nanoTime();
        List<Probe.Unit> tensors = weights(model, c.layers());
        int trials = tensors.size() * c.levels().size();
        progress.printf(Locale.ROOT, "sensitivity: %d layers x %d levels = %d trials (%s), one pass over %s%n", tensors.size(), c.levels().size(),
                trials, c.probe().key(), spec);
        progress.flush();
        SparkData.Loaded data = SparkData.read(spark, spec, model.meta().numFeatures(), "model " + model.source());
        var net = exec.share(NetPayload.of(model));
        var shared = exec.share(new Trials(tensors, c));
        int nf = model.meta().numFeatures(), k = model.meta().numClasses();
        var norm = model.meta().normalizer();
        String where = spec.toString();
        EvalStats[] stats;
        String what = "sensitivity of " + model.source() + " (" + trials + " trials)";
        boolean bySlices = c.parallel() == Parallelism.TRIALS && exec instanceof Execution.OnSpark;
        try {
            stats = bySlices ? trialSlices((Execution.OnSpark) exec, data.rdd(), trials + 1,
                    (it, range) -> shared.value().evaluate(it, net.value(), norm, k, nf, where, range), what)
                    : exec.fold(data.rdd(), it -> shared.value().evaluate(it, net.value(), norm, k, nf, where, null), SensitivityJob::merge, what);
        } finally {
            net.close();
            shared.close();
        }
        if (stats[0].rows() == 0) throw new BadInputException("data " + spec + " is empty (no rows)");
        Sensitivity.Point base = new Sensitivity.Point(0, stats[0].accuracy(), stats[0].loss(), 0);
        List<Sensitivity.LayerCurve> curves = new ArrayList<>();
        int t = 1;
        for (Probe.Unit w : tensors) {
            List<Sensitivity.Point> pts = new ArrayList<>();
            for (double level : c.levels()) {
                pts.add(new Sensitivity.Point(level, stats[t].accuracy(), stats[t].loss(), c.probe().bitsSaved(w, level)));
                t++;
            }
            var layer = model.layers()[w.layer()].conf().getLayer();
            curves.add(new Sensitivity.LayerCurve(w.layer(), layer.getLayerName(), layer.getClass().getSimpleName(), w.entries(), pts));
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        String par = exec instanceof Execution.OnSpark s ? (bySlices ? "trial-parallel" : "data-parallel") + " on " + s.jsc().master() : "in process";
        return new Sensitivity(Sensitivity.FORMAT, Sensitivity.VERSION, c.probe().key(), model.source(), model.sha256(), where, c.levels(), base, curves,
                new Sensitivity.Run(trials, stats[0].rows(), par, secs));
    }

    /** Element by element; a trial another task ran ({@code null} here) takes that task's statistics. */
    static EvalStats[] merge(EvalStats[] a, EvalStats[] b) {
        EvalStats[] out = new EvalStats[a.length];
        for (int i = 0; i < a.length; i++) out[i] = a[i] == null ? b[i] : b[i] == null ? a[i] : a[i].merge(b[i]);
        return out;
    }

    /**
     * Trial-parallel: the rows cached (serialized) on the executors in one partition, the trials cut into as many
     * contiguous slices as the cluster has cores, and their Cartesian product folded like any pass over rows: its
     * partition j holds every row, and its task runs slice j ({@code slice} of the rows and the slice's range).
     */
    static EvalStats[] trialSlices(Execution.OnSpark exec, org.apache.spark.api.java.JavaRDD<Example> rows, int n,
                                   org.apache.spark.api.java.function.Function2<java.util.Iterator<Example>, int[], EvalStats[]> slice, String what) {
        int slices = Math.max(1, Math.min(n, exec.jsc().defaultParallelism()));
        List<int[]> ranges = new ArrayList<>();
        for (int s = 0; s < slices; s++) ranges.add(new int[]{(int) ((long) n * s / slices), (int) ((long) n * (s + 1) / slices)});
        var cached = rows.coalesce(1).persist(org.apache.spark.storage.StorageLevel.MEMORY_ONLY_SER());
        try {
            // partition i x j of a Cartesian product is index i * slices + j: with one row partition, slice j
            var perSlice = cached.cartesian(exec.jsc().parallelize(ranges, slices)).map(pair -> pair._1());
            return exec.fold(perSlice, it -> slice.call(it, ranges.get(org.apache.spark.TaskContext.getPartitionId())), SensitivityJob::merge,
                    what + ", trial-parallel in " + slices + " slices");
        } finally {
            cached.unpersist(false);
        }
    }

    /** The statistics of one model over the batches (as {@link Evaluator#run}, without batching again). */
    static EvalStats run(List<io.squeeze.data.Batches.Batch> batches, Inference model, String where) {
        EvalStats s = new EvalStats(model.numClasses(), false);
        for (io.squeeze.data.Batches.Batch b : batches) {
            long t0 = System.nanoTime();
            float[] p = model.probabilities(b);
            s.update(b.labels(), b.ids(), p, null, System.nanoTime() - t0, 0, where);
        }
        return s;
    }

    /** The trials as they travel to the tasks: the chosen tensors (with masks) and the levels. */
    record Trials(List<Probe.Unit> tensors, Config config) implements Serializable {
        /**
         * Index 0: the model as it is; then layer by layer, level by level. Only the trials in {@code range}
         * ({@code [from, to)}; every trial when null) are run, the others left null.
         */
        EvalStats[] evaluate(java.util.Iterator<Example> it, NetPayload payload, io.squeeze.data.Normalizer norm, int k, int nf, String where, int[] range) {
            // this task's own network (a stack or a graph): trials change its weights in place
            MultiLayerNetwork net = payload.isGraph() ? null : payload.build();
            org.deeplearning4j.nn.graph.ComputationGraph graph = net == null ? payload.buildGraph() : null;
            org.deeplearning4j.nn.api.Layer[] layers = net != null ? net.getLayers() : graph.getLayers();
            java.util.function.Supplier<Inference> inference = () -> net != null ? new Inference(net, norm, k) : new Inference(graph, norm, k);
            // the partition's rows batched once, then every trial runs over the same batches
            List<io.squeeze.data.Batches.Batch> batches = new ArrayList<>();
            io.squeeze.data.Batches.of(it, config.batch(), nf, where).forEachRemaining(batches::add);
            int from = range == null ? 0 : range[0], to = range == null ? Integer.MAX_VALUE : range[1];
            EvalStats[] out = new EvalStats[1 + tensors.size() * config.levels().size()];
            // an Inference takes its runtime's copy of the weights when built: one per trial, after the swap
            if (from == 0) out[0] = run(batches, inference.get(), where);
            int t = 1;
            for (Probe.Unit u : tensors) {
                int end = t + config.levels().size();
                if (end <= from || t >= to) {
                    t = end;
                    continue;
                }
                List<INDArray> params = new ArrayList<>(), originals = new ArrayList<>();
                for (Probe.Weights w : u.tensors()) {
                    params.add(layers[u.layer()].getParam(w.param()));
                    originals.add(params.get(params.size() - 1).dup());
                }
                try {
                    for (double level : config.levels()) {
                        if (t >= from && t < to) {
                            float[][] v = config.probe().apply(u, level);
                            for (int j = 0; j < params.size(); j++) params.get(j).assign(Nd4j.create(v[j], params.get(j).shape(), 'c'));
                            out[t] = run(batches, inference.get(), where);
                        }
                        t++;
                    }
                } finally {
                    for (int j = 0; j < params.size(); j++) params.get(j).assign(originals.get(j));
                }
            }
            return out;
        }
    }
}
