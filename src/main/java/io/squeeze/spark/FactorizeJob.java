package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.core.Storage;
import io.squeeze.lowrank.LayerFactors;
import io.squeeze.lowrank.RankPolicy;
import io.squeeze.lowrank.Ranks;
import io.squeeze.lowrank.SvdMethod;
import io.squeeze.model.Factorization;
import io.squeeze.model.LoadedModel;
import io.squeeze.core.LayerSelector;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.PrintWriter;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code squeeze factorize} as a job. Each chosen matrix — a dense or convolution layer's W, a recurrent layer's W
 * and RW — goes to an executor as one task (largest first); for energy and budget policies a first pass returns only
 * singular values, the driver chooses ranks (jointly for a budget), and a second pass computes the factors. Matrices
 * whose rank would not save weights stay whole. The network is rewritten by {@link Factorization} (a recurrent layer
 * in place, {@link io.squeeze.model.FactoredRecurrent}). In-process execution runs the same kernels.
 */
public final class FactorizeJob {
    private FactorizeJob() {}

    /** One matrix of a layer as a task receives it: W, or a recurrent layer's ({@code recurrent}) input W or recurrent RW. */
    public record Task(int layer, String name, String param, boolean recurrent, int rows, int cols, float[] w) implements Serializable {
        public Task(int layer, String name, int rows, int cols, float[] w) {
            this(layer, name, "W", false, rows, cols, w);
        }

        long size() {
            return (long) rows * cols;
        }

        String label() {
            return "layer " + layer + (recurrent ? " " + param : "");
        }
    }

    /** A task with the rank chosen for it. */
    record Ranked(Task task, int rank) implements Serializable {}

    /**
     * The rewritten network and per-layer notes (indices of the source network, shifted past each factorized layer
     * for a stack); for a graph {@code graph} is the rewritten graph and {@code net} null.
     */
    public record Result(MultiLayerNetwork net, Map<Integer, ArtifactWriter.LayerNote> notes, long weightsBefore, long weightsAfter,
                         org.deeplearning4j.nn.graph.ComputationGraph graph) {
        public Result(MultiLayerNetwork net, Map<Integer, ArtifactWriter.LayerNote> notes, long weightsBefore, long weightsAfter) {
            this(net, notes, weightsBefore, weightsAfter, null);
        }
    }

    /** One task per layer to factorize: a stack's layers by index, a graph's in topological order. */
    public static List<Task> tasks(LoadedModel m, LayerSelector layers) {
        List<Task> out = new ArrayList<>();
        var all = m.layers();
        boolean any = false;
        for (int i = 0; i < all.length; i++) {
            var conf = all[i].conf().getLayer();
            var w = all[i].paramTable().get("W");
            if (!layers.matches(i, conf.getLayerName()) || w == null) continue;
            if (conf.getClass() == LSTM.class || conf.getClass() == org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn.class) {
                // W [nIn, g·H] and RW [H, g·H] (an LSTM's four gates in one matrix each)
                any = true;
                for (String p : new String[]{"W", "RW"}) {
                    var v = all[i].paramTable().get(p);
                    out.add(new Task(i, conf.getLayerName(), p, true, (int) v.rows(), (int) v.columns(), v.dup('c').data().asFloat()));
                }
                continue;
            }
            if (conf.getClass() == ConvolutionLayer.class) {
                // [out, in, kh, kw] as the matrix [out, in·kh·kw] (C order needs no copy)
                any = true;
                out.add(new Task(i, conf.getLayerName(), (int) w.size(0), (int) (w.length() / w.size(0)), w.dup('c').data().asFloat()));
                continue;
            }
            if (!(conf instanceof DenseLayer || conf instanceof OutputLayer)) {
                if (layers != LayerSelector.ALL)
                    throw new BadInputException("factorizing layer " + i + " ('" + conf.getLayerName() + "'), a " + conf.getClass().getSimpleName() + ", is not supported");
                continue;
            }
            any = true;
            out.add(new Task(i, conf.getLayerName(), (int) w.rows(), (int) w.columns(), w.dup('c').data().asFloat()));
        }
        layers.requireMatch(any, "--layers");
        return out;
    }

    /**
     * {@code squeeze factorize} as a record: everything the command runs, stored as the artifact's {@code config}.
     *
     * @param model       the source model (qualified URI)
     * @param policy      how ranks are chosen
     * @param svd         how each SVD is computed
     * @param layers      which layers
     * @param distributed SVDs on executors (false: in this process; the factors are the same)
     * @param fineTune    fine-tuning after the rewrite (none when its epochs are 0)
     * @param evalData    data to evaluate the result against the source on, or null
     */
    public record Config(String model, RankPolicy policy, SvdMethod svd, LayerSelector layers, boolean distributed, FineTune fineTune,
                         String evalData) implements JobConfig.OfModel {
        public Config {
            if (model == null || model.isBlank()) throw new BadInputException("--model must be given");
            if (policy == null) throw new BadInputException("factorize needs --rank, --energy or --params-budget");
            svd = svd == null ? new SvdMethod.Exact() : svd;
            layers = layers == null ? LayerSelector.ALL : layers;
            fineTune = fineTune == null ? FineTune.NONE : fineTune;
        }

        @Override
        public ArtifactWriter.Content run(SparkSession spark, String out, List<String> argv, PrintWriter progress) {
            return execute(spark, this, out, argv, progress).content();
        }
    }

    /** The artifact content and what the factorization did. */
    public record Outcome(ArtifactWriter.Content content, Result result) {}

    /** Runs {@code c}: loads the model, factorizes (on executors unless not distributed), fine-tunes, evaluates. */
    public static Outcome execute(SparkSession spark, Config c, String out, List<String> argv, PrintWriter err) {
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        Loaded srcRun = Models.loadRunnable(st, c.model());
        LoadedModel src = Models.requireFloat(srcRun, "factorize", c.model());
        Result r = run(Execution.of(SparkSessions.jsc(spark), !c.distributed()), src, c.layers(), c.policy(), c.svd());
        MultiLayerNetwork net = r.net();
        if (c.fineTune().runs()) {
            err.printf("factorize: fine-tuning %d epochs on %s%n", c.fineTune().epochs(), c.fineTune().data());
            net = PruneJob.fineTune(spark, net, Map.of(), src, c.fineTune(), io.squeeze.data.Split.TRAIN, !c.distributed(), c.evalData(), err);
        }
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, c.evalData(), io.squeeze.data.Split.TEST,
                Loaded.plain(new LoadedModel(net, src.meta(), "", out, io.squeeze.model.SourceKind.ARTIFACT, 0)), srcRun);
        ArtifactWriter.Content content = new ArtifactWriter.Content(net, src.meta(),
                new ArtifactWriter.Provenance(src.source(), src.sha256(), argv, Jobs.toMap(c)), r.notes(), metrics, Map.of());
        return new Outcome(content, new Result(net, r.notes(), r.weightsBefore(), r.weightsAfter()));
    }

    /** The factorized (and fine-tuned) graph with its metrics. */
    public record GraphOutcome(Result result, Map<String, Object> metrics) {}

    /**
     * {@code squeeze factorize} of a branching graph (a ResNet): its convolution and dense vertices factorized as a
     * layer stack's are (the SVDs on executors), the graph rewritten by {@link io.squeeze.model.GraphFactorization},
     * fine-tuned and evaluated; written as a DL4J zip by the caller.
     */
    public static GraphOutcome executeGraph(SparkSession spark, Config c, LoadedModel src, PrintWriter err) {
        Result r = run(Execution.of(SparkSessions.jsc(spark), !c.distributed()), src, c.layers(), c.policy(), c.svd());
        var g = r.graph();
        if (c.fineTune().runs()) {
            err.printf("factorize: fine-tuning %d epochs on %s%n", c.fineTune().epochs(), c.fineTune().data());
            err.flush();
            g = c.fineTune().graph(spark, g, src, io.squeeze.data.Split.TRAIN, !c.distributed(), c.evalData(), err);
        }
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, c.evalData(), io.squeeze.data.Split.TEST,
                Loaded.plain(LoadedModel.ofGraph(g, src.meta(), "", "factorized", io.squeeze.model.SourceKind.DL4J_ZIP, 0)), Loaded.plain(src));
        return new GraphOutcome(new Result(null, r.notes(), r.weightsBefore(), r.weightsAfter(), g), metrics);
    }

    public static Result run(Execution exec, LoadedModel m, LayerSelector layers, RankPolicy policy, SvdMethod method) {
        List<Task> tasks = tasks(m, layers).stream().filter(t -> policy.covers(t.layer(), t.name())).toList();
        policy.checkCovered((int) tasks.stream().mapToInt(Task::layer).distinct().count());
        Map<Integer, double[]> values = new TreeMap<>(); // by task
        if (policy.needsSpectrum()) {
            List<double[]> s = exec.map(tasks, Task::size, t -> LayerFactors.singularValues(t.w(), t.rows(), t.cols()),
                    "factorize: singular values of " + tasks.size() + " matrices");
            for (int i = 0; i < tasks.size(); i++) values.put(i, s.get(i));
        }
        List<Ranks.Layer> rl = new ArrayList<>();
        for (int i = 0; i < tasks.size(); i++) {
            Task t = tasks.get(i);
            rl.add(new Ranks.Layer(t.label(), t.rows(), t.cols(), values.getOrDefault(i, new double[Math.min(t.rows(), t.cols())]), t.layer(), t.name()));
        }
        int[] k = policy.choose(rl);
        List<Integer> todo = new ArrayList<>();
        for (int i = 0; i < tasks.size(); i++) if (rl.get(i).saves(k[i])) todo.add(i);
        List<Ranked> ranked = todo.stream().map(i -> new Ranked(tasks.get(i), k[i])).toList();
        List<LayerFactors.Result> f = exec.map(ranked, r -> r.task().size(), r -> LayerFactors.factor(r.task().w(), r.task().rows(), r.task().cols(), r.rank(), method),
                "factorize: factors of " + todo.size() + " matrices");
        Map<Integer, LayerFactors.Result> factors = new TreeMap<>(); // by task
        for (int j = 0; j < todo.size(); j++) factors.put(todo.get(j), f.get(j));
        Map<Integer, Factorization.Factors> byLayer = new TreeMap<>();
        Map<Integer, Map<String, Factorization.Factors>> byMatrix = new TreeMap<>(); // a recurrent layer's W and RW
        factors.forEach((i, r) -> {
            Task t = tasks.get(i);
            if (!t.recurrent()) byLayer.put(t.layer(), r.factors());
            else byMatrix.computeIfAbsent(t.layer(), x -> new java.util.HashMap<>()).put(t.param(), r.factors());
        });
        Map<Integer, Factorization.RecurrentFactors> recurrent = new TreeMap<>();
        byMatrix.forEach((l, wr) -> recurrent.put(l, new Factorization.RecurrentFactors(wr.get("W"), wr.get("RW"))));
        boolean none = byLayer.isEmpty() && recurrent.isEmpty();
        MultiLayerNetwork net = m.isGraph() ? null : none ? m.net().clone() : Factorization.rewrite(m.net(), byLayer, recurrent);
        var graph = !m.isGraph() ? null : none ? m.graph().clone() : io.squeeze.model.GraphFactorization.rewrite(m.graph(), byLayer);
        Map<Integer, ArtifactWriter.LayerNote> notes = new TreeMap<>();
        long before = 0, after = 0;
        for (int i = 0; i < tasks.size(); i++) {
            Task t = tasks.get(i);
            Ranks.Layer l = rl.get(i);
            Map<String, Object> d = new LinkedHashMap<>();
            before += l.dense();
            d.put("rank", k[i]);
            if (factors.containsKey(i)) {
                if (values.containsKey(i)) d.put("energy_kept", l.energyKept(k[i]));
                d.put("relative_error", factors.get(i).relativeError());
                d.put("weights_before", l.dense());
                d.put("weights_after", l.cost(k[i]));
                after += l.cost(k[i]);
            } else {
                d.put("left_dense", "rank " + k[i] + " would need " + l.cost(k[i]) + " weights, the " + (t.recurrent() ? t.param() + " matrix" : "layer") + " has " + l.dense());
                after += l.dense();
            }
            String technique = factors.containsKey(i) ? "factorize:" + method.label() : "dense";
            if (!t.recurrent()) {
                notes.put(t.layer(), new ArtifactWriter.LayerNote(technique, d));
                continue;
            }
            // a recurrent layer's note holds W's and RW's details; factorized when either is
            ArtifactWriter.LayerNote had = notes.get(t.layer());
            Map<String, Object> both = had == null ? new LinkedHashMap<>() : new LinkedHashMap<>(had.details());
            both.put(t.param(), d);
            notes.put(t.layer(), new ArtifactWriter.LayerNote(had != null && had.method().startsWith("factorize") ? had.method() : technique, both));
        }
        return new Result(net, m.isGraph() ? notes : shifted(notes, byLayer.keySet()), before, after, graph);
    }

    /** Notes re-indexed to the rewritten network: a factorized layer i is two layers, both noted. */
    static Map<Integer, ArtifactWriter.LayerNote> shifted(Map<Integer, ArtifactWriter.LayerNote> notes, java.util.Set<Integer> factorized) {
        Map<Integer, ArtifactWriter.LayerNote> out = new TreeMap<>();
        notes.forEach((i, n) -> {
            int shift = (int) factorized.stream().filter(f -> f < i).count();
            out.put(i + shift, n);
            if (factorized.contains(i)) out.put(i + shift + 1, n);
        });
        return out;
    }
}
