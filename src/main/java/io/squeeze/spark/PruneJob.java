package io.squeeze.spark;

import io.squeeze.core.TensorKey;
import io.squeeze.core.BadInputException;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.core.Storage;
import io.squeeze.prune.Chunk;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.Surgery;
import io.squeeze.prune.Amount;
import io.squeeze.core.LayerSelector;
import io.squeeze.core.Mask;
import io.squeeze.prune.PruneMethod;
import io.squeeze.prune.Pruner;
import io.squeeze.prune.Target;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code squeeze prune} as a job: chooses the tensors, computes their new masks on executors
 * ({@link SparkPruner}) or in this process, zeroes the pruned weights and, optionally, fine-tunes on Spark with
 * the masks enforced after every update.
 */
public final class PruneJob {
    private PruneJob() {}

    /**
     * What to prune.
     *
     * @param method      the method
     * @param amount      the amount for every chosen tensor (and the global amount), or null with per-layer amounts
     * @param perLayer    amounts by layer index or name (empty: {@code amount} everywhere)
     * @param layers      which layers
     * @param includeBias prune biases too
     * @param chunkSize   selection chunk size (entries)
     */
    public record Plan(PruneMethod method, Amount amount, Map<String, Amount> perLayer, LayerSelector layers,
                       boolean includeBias, int chunkSize) {
        public Plan {
            if (amount == null && perLayer.isEmpty() && method.needsAmount())
                throw new BadInputException("--amount must be given for method " + method.label());
            if (method instanceof PruneMethod.Selecting s && s.global() && amount == null)
                throw new BadInputException("the global method takes one --amount for all layers, not per-layer amounts");
        }
    }

    /**
     * {@code squeeze prune} as a record: everything the command runs, stored as the artifact's {@code config}.
     *
     * @param model       the source model (qualified URI)
     * @param method      the pruning method
     * @param amount      one amount for every chosen tensor (and the global amount), or null with {@code perLayer}
     * @param perLayer    amounts by layer index or name (empty: {@code amount} everywhere)
     * @param layers      which layers
     * @param includeBias prune biases too
     * @param distributed masks computed on executors (false: in this process; the masks are the same)
     * @param fineTune    fine-tuning with the masks enforced (none when its epochs are 0)
     * @param split       the IDX split of the fine-tuning data (train) and evaluation data (test), or null
     * @param shrink      remove neurons/channels whose weights are all pruned
     * @param evalData    data to evaluate the result against the source on, or null
     */
    public record Config(String model, PruneMethod method, Amount amount, Map<String, Amount> perLayer, LayerSelector layers,
                         boolean includeBias, boolean distributed, FineTune fineTune, io.squeeze.data.Split split, boolean shrink,
                         String evalData) implements JobConfig.OfModel {
        public Config {
            if (model == null || model.isBlank()) throw new BadInputException("--model must be given");
            if (method == null) throw new BadInputException("--method must be given");
            perLayer = perLayer == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(perLayer));
            layers = layers == null ? LayerSelector.ALL : layers;
            fineTune = fineTune == null ? FineTune.NONE : fineTune;
            new Plan(method, amount, perLayer, layers, includeBias, Chunk.DEFAULT_SIZE); // validates the combination
        }

        public Plan plan() {
            return new Plan(method, amount, perLayer, layers, includeBias, Chunk.DEFAULT_SIZE);
        }

        @Override
        public ArtifactWriter.Content run(SparkSession spark, String out, List<String> argv, PrintWriter progress) {
            return PruneJob.run(spark, this, out, argv, progress);
        }
    }

    /**
     * Runs {@code c}: loads the model, computes the masks (on executors unless {@code distributed} is false), fine-tunes
     * with the masks enforced, shrinks, evaluates; returns the artifact content with {@code c} as its config.
     */
    public static ArtifactWriter.Content run(SparkSession spark, Config c, String out, List<String> argv, PrintWriter err) {
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        Loaded srcRun = Models.loadRunnable(st, c.model());
        LoadedModel src = Models.requireFloat(srcRun, "prune", c.model());
        Result r = run(Execution.of(SparkSessions.jsc(spark), !c.distributed()), src, c.plan());
        MultiLayerNetwork net = r.net();
        if (c.fineTune().runs()) {
            err.printf("prune: fine-tuning %d epochs on %s with the masks enforced%n", c.fineTune().epochs(), c.fineTune().data());
            err.flush();
            net = fineTune(spark, net, r.masks(), src, c.fineTune(), c.split() == null ? io.squeeze.data.Split.TRAIN : c.split(), !c.distributed(), c.evalData(), err);
        }
        Map<TensorKey, Mask> masks = r.masks();
        Map<Integer, ArtifactWriter.LayerNote> notes = new TreeMap<>(r.notes());
        if (c.shrink()) {
            var s = io.squeeze.prune.Shrink.shrink(net, masks);
            s.skipped().forEach((layer, why) -> err.printf("prune: shrink layer %d: left masked, %s%n", layer, why));
            if (s.changes().isEmpty()) err.println("prune: --shrink found no neuron or channel whose weights are all pruned (use --method ln --dim out)");
            s.changes().forEach((layer, what) -> {
                err.printf("prune: shrink layer %d: %s%n", layer, what);
                var old = notes.get(layer);
                Map<String, Object> d = new LinkedHashMap<>(old == null ? Map.of() : old.details());
                d.put("shrunk", what);
                notes.put(layer, new ArtifactWriter.LayerNote(old == null ? "shrink" : old.method() + "+shrink", d));
            });
            net = s.net();
            masks = s.masks();
        }
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, c.evalData(), c.split(),
                Loaded.plain(new LoadedModel(net, src.meta(), "", out, io.squeeze.model.SourceKind.ARTIFACT, 0, masks)), srcRun);
        return new ArtifactWriter.Content(net, src.meta(), new ArtifactWriter.Provenance(src.source(), src.sha256(), argv, Jobs.toMap(c)),
                notes, metrics, masks);
    }

    /** The pruned network, every mask (old and new) by tensor key, and per-layer notes. */
    public record Result(MultiLayerNetwork net, Map<TensorKey, Mask> masks, Map<Integer, ArtifactWriter.LayerNote> notes) {}

    public static List<Target> targets(LoadedModel m, Plan p) {
        return targets(m.net().getLayerWiseConfigurations(), io.squeeze.model.GraphMasks.shapes(m.net().getLayers()), p, m.masks(),
                key -> Surgery.values(m.net(), key.layer(), key.param()));
    }

    /**
     * The tensors {@code p} chooses in a network with configuration {@code conf} and parameter {@code shapes}, with
     * their previous {@code masks}; {@code values} reads a tensor's values (C order), or returns null when each task
     * reads its own tensor from storage.
     */
    static List<Target> targets(org.deeplearning4j.nn.conf.MultiLayerConfiguration conf, Map<TensorKey, long[]> shapes, Plan p,
                                Map<TensorKey, Mask> masks, java.util.function.Function<TensorKey, float[]> values) {
        List<org.deeplearning4j.nn.conf.layers.Layer> layers = conf.getConfs().stream().map(org.deeplearning4j.nn.conf.NeuralNetConfiguration::getLayer).toList();
        return targets(layers, layers.stream().map(org.deeplearning4j.nn.conf.layers.Layer::getLayerName).toList(), shapes, p, masks, values);
    }

    /** As above for layers given in order with their names (a graph's layers and vertex names). */
    static List<Target> targets(List<org.deeplearning4j.nn.conf.layers.Layer> layers, List<String> names, Map<TensorKey, long[]> shapes, Plan p,
                                Map<TensorKey, Mask> masks, java.util.function.Function<TensorKey, float[]> values) {
        List<Target> out = new ArrayList<>();
        boolean anyMatch = false;
        for (int i = 0; i < layers.size(); i++) {
            var layer = layers.get(i);
            if (layer instanceof io.squeeze.model.FactoredRecurrent && p.layers().matches(i, names.get(i)))
                throw new BadInputException("prune: layer " + i + " ('" + names.get(i) + "') is " + io.squeeze.model.Recurrent.kind(layer)
                        + "; Squeeze prunes recurrent layers with whole W and RW (prune before factorizing, or leave it out with --layers)");
            if (!(layer instanceof FeedForwardLayer) || !shapes.containsKey(new TensorKey(i, "W"))) continue;
            String name = names.get(i);
            if (!p.layers().matches(i, name)) continue;
            Amount a = p.perLayer().isEmpty() ? p.amount() : p.perLayer().getOrDefault(Integer.toString(i), p.perLayer().get(name));
            if (a == null && p.method().needsAmount()) continue;
            anyMatch = true;
            boolean conv = layer instanceof ConvolutionLayer;
            boolean recurrent = io.squeeze.model.Recurrent.is(layer);
            boolean units = recurrent && p.method() instanceof io.squeeze.prune.LnStructured;
            if (units && ((io.squeeze.prune.LnStructured) p.method()).dim() != PruneMethod.Dim.OUT)
                throw new BadInputException("prune --method ln --dim in: layer " + i + " ('" + name + "') is " + io.squeeze.model.Recurrent.kind(layer)
                        + ", whose hidden units are pruned whole (--dim out)");
            List<String> params = io.squeeze.model.LayerSupport.weightParams(layer);
            if (p.includeBias() || units) params = java.util.stream.Stream.concat(params.stream(), java.util.stream.Stream.of("b")).toList();
            for (String param : params) {
                TensorKey key = new TensorKey(i, param);
                long[] shape = shapes.get(key);
                if (shape == null) continue;
                int outAxis = param.equals("b") ? 1 : conv ? 0 : 1;
                int inAxis = param.equals("b") ? -1 : conv ? 1 : 0;
                Target t = new Target(out.size(), i, param, shape, null, null, a == null ? Amount.fraction(0) : a, outAxis, inAxis);
                Mask mask = masks.getOrDefault(key, Mask.all(t.size()));
                float[] v = values.apply(key);
                out.add(new Target(t.id(), i, param, shape, v, mask, t.amount(), outAxis, inAxis));
            }
        }
        p.layers().requireMatch(anyMatch, p.perLayer().isEmpty() ? "--layers" : "--amount per-layer list");
        return out;
    }

    /**
     * New masks of {@code targets}: a per-tensor method as one task per tensor; a selecting method by exact k-selection,
     * its passes as Spark jobs over chunks on executors ({@link SparkPruner}) or in this process ({@link Pruner}).
     */
    static Map<Integer, Mask> masks(Execution exec, List<Target> targets, PruneMethod method, Amount global, int chunkSize) {
        if (method instanceof PruneMethod.PerTensor p) {
            if (targets.isEmpty()) throw new BadInputException("nothing to prune: no tensor chosen");
            for (Target t : targets) p.check(t); // fail fast, in order
            List<byte[]> bits = exec.map(targets, Target::size, t -> p.computeMask(t).toBytes(), "prune: " + p.label() + " on " + targets.size() + " tensors");
            Map<Integer, Mask> out = new TreeMap<>();
            for (int i = 0; i < targets.size(); i++) out.put(targets.get(i).id(), Mask.fromBytes(bits.get(i), targets.get(i).size()));
            return out;
        }
        return exec instanceof Execution.OnSpark s ? SparkPruner.masks(s.jsc(), targets, method, global, chunkSize)
                : Pruner.masks(targets, method, global, chunkSize);
    }

    public static Result run(Execution exec, LoadedModel m, Plan p) {
        List<Target> targets = targets(m, p);
        Amount global = p.amount() == null ? Amount.fraction(0) : p.amount();
        Map<Integer, Mask> fresh = new TreeMap<>();
        List<Target> perTensor = new ArrayList<>();
        for (Target t : targets) {
            if (!(p.method() instanceof io.squeeze.prune.LnStructured ln)
                    || !io.squeeze.model.Recurrent.is(m.net().getLayer(t.layer()).conf().getLayer())) {
                perTensor.add(t);
            } else if (t.param().equals("W")) { // a recurrent layer's units: W, RW and b as one group per unit, in the driver (a few columns)
                var r = (org.deeplearning4j.nn.conf.layers.FeedForwardLayer) m.net().getLayer(t.layer()).conf().getLayer();
                Map<String, Target> group = new java.util.HashMap<>();
                for (Target g : targets) if (g.layer() == t.layer()) group.put(g.param(), g);
                Map<String, Mask> unitMasks = io.squeeze.prune.RecurrentUnits.prune(t.values(), group.get("RW").values(), t.mask(), group.get("RW").mask(),
                        group.get("b").mask(), (int) r.getNIn(), (int) r.getNOut(), io.squeeze.model.Recurrent.gates(r), t.amount(), ln.norm(), "layer " + t.layer());
                for (Target g : group.values()) fresh.put(g.id(), unitMasks.get(g.param()));
            }
        }
        if (!perTensor.isEmpty() || fresh.isEmpty()) fresh.putAll(masks(exec, perTensor, p.method(), global, p.chunkSize()));
        Map<TensorKey, Mask> masks = new TreeMap<>(m.masks());
        Map<Integer, ArtifactWriter.LayerNote> notes = notes(targets, fresh, p.method(), masks);
        MultiLayerNetwork net = m.net().clone();
        Surgery.applyMasks(net, masks);
        return new Result(net, masks, notes);
    }

    /** Puts each target's new mask into {@code masks}; returns the per-layer notes (amounts and counts). */
    static Map<Integer, ArtifactWriter.LayerNote> notes(List<Target> targets, Map<Integer, Mask> fresh, PruneMethod method, Map<TensorKey, Mask> masks) {
        Map<Integer, ArtifactWriter.LayerNote> notes = new TreeMap<>();
        for (Target t : targets) {
            Mask mk = fresh.get(t.id());
            masks.put(t.key(), mk);
            Map<String, Object> d = new LinkedHashMap<>(notes.containsKey(t.layer()) ? notes.get(t.layer()).details() : Map.of());
            d.put(t.param() + "_amount", t.amount().toString());
            d.put(t.param() + "_pruned", mk.prunedCount());
            d.put(t.param() + "_pruned_now", mk.prunedCount() - t.mask().prunedCount());
            d.put(t.param() + "_sparsity", (double) mk.prunedCount() / mk.size());
            notes.put(t.layer(), new ArtifactWriter.LayerNote("prune:" + method.label(), d));
        }
        return notes;
    }

    /** Fine-tunes on Spark with the masks enforced after every update; returns a clean, masked network. */
    public static MultiLayerNetwork fineTune(SparkSession spark, MultiLayerNetwork net, Map<TensorKey, Mask> masks, LoadedModel source,
                                             FineTune ft, io.squeeze.data.Split split, boolean local, String evalData, PrintWriter progress) {
        return fineTune(spark, net, masks, Map.of(), source, ft, split, local, evalData, progress);
    }

    /** Fine-tunes on Spark with the masks and the weight-sharing ties ({@code codebooks}, by layer and parameter) enforced after every update. */
    public static MultiLayerNetwork fineTune(SparkSession spark, MultiLayerNetwork net, Map<TensorKey, Mask> masks,
                                             Map<Integer, Map<String, io.squeeze.model.CodebookConstraint.Assignment>> codebooks, LoadedModel source,
                                             FineTune ft, io.squeeze.data.Split split, boolean local, String evalData, PrintWriter progress) {
        if (!ft.runs()) return net;
        if (ft.lr() != null) net.setLearningRate(ft.lr());
        return fineTune(spark, net, masks, codebooks, source, DataSpec.parse(ft.data(), split, false), ft.training(0, local), progress,
                ft.decaying(Validation.after(spark, evalData, source.meta(), progress), MultiLayerNetwork::setLearningRate));
    }

    /** Fine-tunes on Spark with the masks enforced after every update; returns a clean, masked network. */
    public static MultiLayerNetwork fineTune(SparkSession spark, MultiLayerNetwork net, Map<TensorKey, Mask> masks, LoadedModel source,
                                             DataSpec data, SparkTrainer.Config cfg, String evalData, PrintWriter progress) {
        return fineTune(spark, net, masks, Map.of(), source, data, cfg, evalData, progress);
    }

    static MultiLayerNetwork fineTune(SparkSession spark, MultiLayerNetwork net, Map<TensorKey, Mask> masks,
                                      Map<Integer, Map<String, io.squeeze.model.CodebookConstraint.Assignment>> codebooks, LoadedModel source,
                                      DataSpec data, SparkTrainer.Config cfg, String evalData, PrintWriter progress) {
        return fineTune(spark, net, masks, codebooks, source, data, cfg, progress, Validation.after(spark, evalData, source.meta(), progress));
    }

    /** As above, calling {@code afterEpoch} with the epoch (1-based) and the averaged network after each epoch. */
    static MultiLayerNetwork fineTune(SparkSession spark, MultiLayerNetwork net, Map<TensorKey, Mask> masks,
                                      Map<Integer, Map<String, io.squeeze.model.CodebookConstraint.Assignment>> codebooks, LoadedModel source,
                                      DataSpec data, SparkTrainer.Config cfg, PrintWriter progress,
                                      java.util.function.BiConsumer<Integer, MultiLayerNetwork> afterEpoch) {
        var meta = source.meta();
        SparkData.Loaded d = TrainJob.trainingData(spark, data, meta, source.source());
        var norm = meta.normalizer();
        JavaRDD<Example> rows = TrainJob.normalized(d.rdd(), norm);
        MultiLayerNetwork constrained = Surgery.withConstraints(net, masks, codebooks);
        MultiLayerNetwork tuned = SparkTrainer.train(SparkSessions.jsc(spark), rows, constrained, meta.numFeatures(),
                meta.numClasses(), cfg, data.toString(), progress, afterEpoch);
        MultiLayerNetwork clean = Surgery.withoutMaskConstraints(tuned);
        Surgery.applyMasks(clean, masks);
        return clean;
    }
}
