package io.squeeze.spark;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Loaded;
import io.squeeze.core.BadInputException;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.SourceKind;
import io.squeeze.prune.ChannelGroups;
import io.squeeze.prune.GroupPruning;
import io.squeeze.prune.LnStructured;
import io.squeeze.prune.PruneMethod;
import io.squeeze.prune.Amount;
import io.squeeze.prune.Target;
import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import io.squeeze.model.GraphMasks;
import java.util.List;
import java.util.TreeMap;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;

/**
 * {@code squeeze prune} of a branching graph (a ResNet), in one of two ways:
 * <ul>
 *   <li>{@code --method ln --shrink}: structured pruning of its channel dependency groups ({@link ChannelGroups},
 *       {@link GroupPruning}) with the channels removed (the masked twin is only the definition of what the shrunk
 *       graph computes);</li>
 *   <li>any other method (unstructured {@code l1}, {@code random}, {@code global}, {@code threshold}, or {@code ln}
 *       without {@code --shrink}): masks of each chosen weight tensor computed by the stacks' kernels (on executors
 *       with {@link SparkPruner}, or in this process), the pruned weights zeroed and kept at zero through the
 *       fine-tuning by {@link io.squeeze.model.MaskConstraint}s. The graph's earlier zeros count as pruned
 *       ({@link GraphMasks#zeros}), so pruning again prunes among the weights still kept. Layers are chosen and given
 *       amounts by vertex name ({@code --layers}, {@code --amount conv1:0.3,...}).</li>
 * </ul>
 * Then optional fine-tuning of the result on Spark and evaluation against the source. The result is written as an
 * artifact directory (pruned tensors stored sparse, their masks restored on reading) or a DL4J ComputationGraph zip.
 */
public final class GraphPruneJob {
    private GraphPruneJob() {}

    /**
     * The pruned (and fine-tuned) graph, its metrics against the source, the source's parameter count, the weights
     * pruned out of those of the chosen tensors (0 of 0 for group pruning, which removes them), the masks of its pruned
     * tensors (empty for group pruning) and what was done to each vertex.
     */
    public record Result(ComputationGraph graph, Map<String, Object> metrics, long paramsBefore, long pruned, long chosen,
                         Map<TensorKey, Mask> masks, Map<String, ArtifactWriter.LayerNote> notes) {}

    /** Whether {@code c} removes whole channel dependency groups ({@code --method ln --shrink}) rather than masking weights. */
    public static boolean removesGroups(PruneJob.Config c) {
        return c.method() instanceof LnStructured && c.shrink();
    }

    /** Refuses what graph pruning does not take, before any Spark work (the model is loaded: layer selectors are checked too). */
    public static void check(PruneJob.Config c, LoadedModel src) {
        if (removesGroups(c)) {
            if (((LnStructured) c.method()).dim() != PruneMethod.Dim.OUT)
                throw new BadInputException("model " + c.model() + " is a graph: --shrink removes whole output channels of its dependency groups (--dim out), got --dim in");
            if (c.amount() == null || !c.perLayer().isEmpty() || !c.layers().equals(io.squeeze.core.LayerSelector.ALL))
                throw new BadInputException("prune --shrink of graph " + c.model() + " takes one --amount for every dependency group (no per-layer amounts or --layers)");
            return;
        }
        if (c.shrink())
            throw new BadInputException("model " + c.model() + " is a graph: --shrink removes channel dependency groups, with --method ln; --method "
                    + c.method().label() + " masks weights without removing them");
        for (Target t : targets(c, src.graph(), GraphMasks.zeros(src.graph())))
            if (c.method() instanceof LnStructured && src.graph().getLayers()[t.layer()].conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.LSTM)
                throw new BadInputException("prune --method ln of graph " + c.model() + ": vertex '" + GraphMasks.names(src.graph()).get(t.layer())
                        + "' is an LSTM; Squeeze prunes a graph's LSTM units with unstructured methods only");
    }

    /** The weight tensors {@code c} chooses in {@code g}, with the graph's {@code zeros} ({@link GraphMasks#zeros}) as their masks. */
    static List<Target> targets(PruneJob.Config c, ComputationGraph g, Map<TensorKey, Mask> zeros) {
        return PruneJob.targets(GraphMasks.layerConfs(g), GraphMasks.names(g), GraphMasks.shapes(g.getLayers()), c.plan(), zeros,
                k -> GraphMasks.values(g, k.layer(), k.param()));
    }

    public static Result run(SparkSession spark, PruneJob.Config c, LoadedModel src, PrintWriter err) {
        if (!removesGroups(c)) return masked(spark, c, src, err);
        ComputationGraph g = src.graph();
        ChannelGroups groups = ChannelGroups.of(g, src.source());
        GroupPruning.Plan plan = GroupPruning.choose(g, groups, c.amount(), ((LnStructured) c.method()).norm());
        for (ChannelGroups.Group grp : groups.groups()) {
            String root = groups.groupOf(grp.producers().get(0));
            if (grp.fixed() != null) err.printf("prune: group %s: %d channels kept (%s)%n", grp.name(), grp.channels(), grp.fixed());
            else err.printf("prune: group %s: channels %d -> %d%n", grp.name(), grp.channels(), grp.channels() - plan.removed(root));
        }
        ComputationGraph shrunk = GroupPruning.shrink(g, groups, plan);
        Map<String, ArtifactWriter.LayerNote> notes = new java.util.LinkedHashMap<>();
        for (ChannelGroups.Group grp : groups.groups()) {
            int after = grp.channels() - (grp.fixed() != null ? 0 : plan.removed(groups.groupOf(grp.producers().get(0))));
            for (String v : grp.producers())
                notes.put(v, new ArtifactWriter.LayerNote("prune:" + c.method().label() + "-shrink", Map.of("group", grp.name(), "channels_before", grp.channels(), "channels_after", after)));
        }
        long macs = io.squeeze.model.Graphs.multiplyAdds(g, src.meta().numFeatures()), after = io.squeeze.model.Graphs.multiplyAdds(shrunk, src.meta().numFeatures());
        err.printf(Locale.ROOT, "prune: %,d -> %,d parameters, %,d -> %,d multiply-adds a row (%.2fx fewer)%n", g.numParams(), shrunk.numParams(),
                macs, after, macs / (double) after);
        err.flush();
        if (c.fineTune().runs()) {
            err.printf("prune: fine-tuning %d epochs on %s%n", c.fineTune().epochs(), c.fineTune().data());
            err.flush();
            shrunk = c.fineTune().graph(spark, shrunk, src, c.split(), !c.distributed(), c.evalData(), err);
        }
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, c.evalData(), c.split(),
                Loaded.plain(LoadedModel.ofGraph(shrunk, src.meta(), "", "pruned", SourceKind.DL4J_ZIP, 0)), Loaded.plain(src));
        return new Result(shrunk, metrics, g.numParams(), 0, 0, Map.of(), notes);
    }

    /** Masks of the chosen weights (on executors unless {@code --local}), zeroed, fine-tuned with the masks enforced. */
    static Result masked(SparkSession spark, PruneJob.Config c, LoadedModel src, PrintWriter err) {
        ComputationGraph g = src.graph();
        Map<TensorKey, Mask> masks = new TreeMap<>(GraphMasks.zeros(g));
        List<Target> targets = targets(c, g, masks);
        Map<Integer, Mask> fresh = PruneJob.masks(Execution.of(SparkSessions.jsc(spark), !c.distributed()), targets, c.method(),
                c.amount() == null ? Amount.fraction(0) : c.amount(), c.plan().chunkSize());
        List<String> names = GraphMasks.names(g);
        Map<String, ArtifactWriter.LayerNote> notes = new java.util.LinkedHashMap<>();
        PruneJob.notes(targets, fresh, c.method(), masks).forEach((layer, n) -> notes.put(names.get(layer), n));
        long pruned = 0, chosen = 0;
        for (Target t : targets) {
            Mask m = masks.get(t.key());
            pruned += m.prunedCount();
            chosen += m.size();
            err.printf(Locale.ROOT, "prune: %s %s: %,d of %,d pruned (%.1f%%; %,d now)%n", names.get(t.layer()), t.param(), m.prunedCount(), m.size(),
                    100.0 * m.prunedCount() / m.size(), m.prunedCount() - t.mask().prunedCount());
        }
        err.flush();
        ComputationGraph out = g.clone();
        GraphMasks.apply(out, masks);
        if (c.fineTune().runs()) {
            err.printf("prune: fine-tuning %d epochs on %s with the masks enforced%n", c.fineTune().epochs(), c.fineTune().data());
            err.flush();
            out = c.fineTune().graph(spark, out, masks, src, c.split(), !c.distributed(), c.evalData(), err);
        }
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, c.evalData(), c.split(),
                Loaded.plain(LoadedModel.ofGraph(out, src.meta(), "", "pruned", SourceKind.DL4J_ZIP, 0)), Loaded.plain(src));
        masks.values().removeIf(m -> m.prunedCount() == 0);
        return new Result(out, metrics, g.numParams(), pruned, chosen, masks, notes);
    }
}
