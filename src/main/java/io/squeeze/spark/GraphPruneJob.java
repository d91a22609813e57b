package io.squeeze.spark;

import io.squeeze.artifact.Loaded;
import io.squeeze.core.BadInputException;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.SourceKind;
import io.squeeze.prune.ChannelGroups;
import io.squeeze.prune.GroupPruning;
import io.squeeze.prune.LnStructured;
import io.squeeze.prune.PruneMethod;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;

/**
 * {@code squeeze prune} of a branching graph (a ResNet): structured pruning of its channel dependency groups
 * ({@link ChannelGroups}, {@link GroupPruning}) with the channels removed ({@code --shrink}, required: the masked twin
 * is only the definition of what the shrunk graph computes), then optional fine-tuning of the smaller graph on Spark
 * and evaluation against the source. The result is a DL4J ComputationGraph zip.
 */
public final class GraphPruneJob {
    private GraphPruneJob() {}

    /** The pruned (and fine-tuned) graph, its metrics against the source, and the source's parameter count. */
    public record Result(ComputationGraph graph, Map<String, Object> metrics, long paramsBefore) {}

    /** Refuses what graph pruning does not take, before any Spark work. */
    public static void check(PruneJob.Config c) {
        if (!(c.method() instanceof LnStructured ln) || ln.dim() != PruneMethod.Dim.OUT || !c.shrink())
            throw new BadInputException("model " + c.model() + " is a graph: Squeeze prunes its channel dependency groups with --method ln --shrink "
                    + "(channels joined by residual adds removed together), got --method " + c.method().label() + (c.method() instanceof LnStructured && !c.shrink() ? " without --shrink" : ""));
        if (c.amount() == null || !c.perLayer().isEmpty() || !c.layers().equals(io.squeeze.core.LayerSelector.ALL))
            throw new BadInputException("prune of graph " + c.model() + " takes one --amount for every dependency group (no per-layer amounts or --layers)");
    }

    public static Result run(SparkSession spark, PruneJob.Config c, LoadedModel src, PrintWriter err) {
        ComputationGraph g = src.graph();
        ChannelGroups groups = ChannelGroups.of(g, src.source());
        GroupPruning.Plan plan = GroupPruning.choose(g, groups, c.amount(), ((LnStructured) c.method()).norm());
        for (ChannelGroups.Group grp : groups.groups()) {
            String root = groups.groupOf(grp.producers().get(0));
            if (grp.fixed() != null) err.printf("prune: group %s: %d channels kept (%s)%n", grp.name(), grp.channels(), grp.fixed());
            else err.printf("prune: group %s: channels %d -> %d%n", grp.name(), grp.channels(), grp.channels() - plan.removed(root));
        }
        ComputationGraph shrunk = GroupPruning.shrink(g, groups, plan);
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
        return new Result(shrunk, metrics, g.numParams());
    }
}
