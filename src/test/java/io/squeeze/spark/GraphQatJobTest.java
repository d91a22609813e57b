package io.squeeze.spark;

import io.squeeze.model.GraphBatchNormFold;
import io.squeeze.model.GraphOps;
import io.squeeze.model.ResNetGraphTest;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantizedModel;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** QAT of a graph keeps --layer-precision's node indices those of the source, though DL4J orders the folded graph anew. */
class GraphQatJobTest {
    @Test
    void layerPrecisionByIndexNamesTheSourcesNodeInTheFoldedGraph() {
        ComputationGraph g = ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 7), 3);
        GraphOps source = GraphOps.of(g, "test"), folded = GraphOps.of(GraphBatchNormFold.fold(g).graph(), "test");
        int[] to = GraphQatJob.toFolded(source, folded);
        for (int i = 0; i < to.length; i++) assertEquals(source.nodes().get(i).name(), folded.nodes().get(to[i]).name());
        int proj = source.names().entrySet().stream().filter(e -> e.getValue().equals("s2b1_proj")).findFirst().orElseThrow().getKey();
        assertNotEquals(proj, (int) to[proj], "DL4J sorts the folded graph's second stage otherwise: the test needs a moved node");
        QuantConfig cfg = new QuantConfig(QuantConfig.Mode.QAT, QuantConfig.Precision.INT8, QuantConfig.Granularity.CHANNEL, null, false,
                QuantConfig.observer("minmax"), List.of(QuantConfig.LayerOverride.parse(proj + "=fp32")), QuantConfig.Rounding.NEAREST);
        QuantizedModel m = QuantizedModel.quantizeWeights(folded, cfg.reindexed(to));
        for (GraphOps.Node n : folded.nodes()) {
            if (QuantizedModel.shape(n.op()) == null) continue;
            assertEquals(n.name().equals("s2b1_proj") ? QuantConfig.Precision.FP32 : QuantConfig.Precision.INT8, m.plan().precisionOf(n.op().layer()), n.name());
        }
    }
}
