package io.squeeze.artifact;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Mask;
import io.squeeze.core.Storage;
import io.squeeze.core.TensorKey;
import io.squeeze.model.GraphBatchNormFold;
import io.squeeze.model.GraphMasks;
import io.squeeze.model.GraphOps;
import io.squeeze.model.ModelIO;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.ResNetGraphTest;
import io.squeeze.quantize.GraphQuantTest;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantRunner;
import io.squeeze.quantize.QuantizedModel;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.File;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/** Artifact directories of branching graphs (format 3): masked and quantized ResNets written, verified and read back. */
public class GraphArtifactTest {
    static final Storage ST = new Storage(new Configuration());
    static final ModelMeta META = new ModelMeta(784, 10, new int[]{28, 28, 1}, null, "");

    @TempDir
    File dir;

    private static ArtifactWriter.Provenance provenance() {
        return new ArtifactWriter.Provenance("resnet.zip", "abc", List.of("prune"), Map.of());
    }

    @Test
    void aPrunedGraphReadsBackWithItsWeightsMasksAndVertexNames() {
        ComputationGraph g = ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 7), 3);
        List<String> names = GraphMasks.names(g);
        int s2 = names.indexOf("s2b1_conv1");
        float[] w = GraphMasks.values(g, s2, "W");
        boolean[] kept = new boolean[w.length];
        for (int i = 0; i < w.length; i++) kept[i] = i % 4 == 0; // 75 % pruned
        Map<TensorKey, Mask> masks = new TreeMap<>(Map.of(new TensorKey(s2, "W"), Mask.of(kept)));
        GraphMasks.apply(g, masks);
        String out = new File(dir, "pruned").getPath();
        Manifest m = ArtifactWriter.writeGraph(ST, out, false, new ArtifactWriter.GraphContent(g, META, provenance(),
                Map.of("s2b1_conv1", new ArtifactWriter.LayerNote("prune:l1", Map.of("W_sparsity", 0.75))), Map.of(), masks, null), true);
        assertEquals(3, m.formatVersion());
        assertEquals(g.getLayers().length, m.layers().size());
        Manifest.LayerRecord rec = m.layers().get(s2);
        assertEquals("s2b1_conv1", rec.name());
        assertEquals("prune:l1", rec.method());
        assertEquals(0.75, rec.sparsity(), 0.01);
        assertEquals("none", m.layers().get(0).method());

        Artifact a = Artifact.load(ST, out);
        assertTrue(a.model().isGraph());
        assertNull(a.quant());
        assertEquals(masks, a.model().masks());
        assertEquals("fp32, sparse", a.storage().get(s2));
        assertEquals(g.params(), a.model().graph().params(), "every parameter restored exactly, in the same order");
        INDArray x = ResNetGraphTest.images(8, 11);
        assertEquals(g.outputSingle(false, x), a.model().graph().outputSingle(false, x));
        // the pruned layer is stored sparse: well under its dense bytes (a quarter of the weights kept)
        assertTrue(rec.bytesAfter() < rec.bytesBefore() * 0.45, rec.bytesAfter() + " of " + rec.bytesBefore() + " bytes");
        // model.zip beside it reads as the same graph
        LoadedModelCheck.sameGraph(g, ModelIO.fromZip(ST.readAll(new Path(out, ArtifactWriter.MODEL_ZIP), "zip"), out, io.squeeze.model.SourceKind.DL4J_ZIP, true).graph(), x);
        // the commands that take graphs see one; the others are refused naming the merges
        assertTrue(Models.isGraph(ST, ST.path(out)));
        assertTrue(Models.load(ST, out, true).isGraph());
        BadInputException e = assertThrows(BadInputException.class, () -> Models.load(ST, out));
        assertTrue(e.getMessage().contains("ElementWiseVertex"), e.getMessage());
    }

    @Test
    void aQuantizedGraphIsStoredAsIntegersAndRunsTheSameIntegerPath() {
        ComputationGraph g = GraphBatchNormFold.fold(ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 7), 3)).graph();
        GraphOps ops = GraphOps.of(g, "test");
        float[] rows = ResNetGraphTest.images(32, 5).data().asFloat();
        QuantizedModel qm = GraphQuantTest.calibrated(QuantizedModel.quantizeWeights(ops, GraphQuantTest.config(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8)),
                rows, 32, 784);
        String out = new File(dir, "quantized").getPath();
        Manifest m = ArtifactWriter.writeGraph(ST, out, false, new ArtifactWriter.GraphContent(g, META, provenance(), Map.of(), Map.of(), Map.of(), qm), false);
        Artifact a = Artifact.load(ST, out);
        QuantizedModel back = a.quant();
        assertNotNull(back);
        assertTrue(back.isGraph());
        assertEquals(qm.plan(), back.plan());
        assertEquals(qm.weights().keySet(), back.weights().keySet());
        for (var e : qm.weights().entrySet()) assertArrayEquals(e.getValue().values(), back.weights().get(e.getKey()).values(), "node " + e.getKey());
        float[] want = new QuantRunner(qm).run(rows, 32, 784, QuantRunner.Path.INTEGER, null);
        float[] got = new QuantRunner(back).run(rows, 32, 784, QuantRunner.Path.INTEGER, null);
        assertArrayEquals(want, got, "the integer path of the artifact is the quantized model's");
        assertTrue(a.storage().values().stream().anyMatch(s -> s.startsWith("int8")), a.storage().toString());
        // integers stored as integers: the directory is well under the float graph's zip
        long whole = ST.totalBytes(ST.path(out)), zip = ModelIO.toZip(g, META).length;
        assertTrue(whole * 2.5 < zip, "artifact " + whole + " bytes, float zip " + zip);
        assertEquals(3, m.formatVersion());
    }

    @Test
    void aGraphWithBatchNormalizationNotFoldedIsNotWrittenQuantized() {
        ComputationGraph g = ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 7), 3);
        QuantizedModel qm = QuantizedModel.quantizeWeights(GraphOps.of(g, "test"), GraphQuantTest.config(QuantConfig.Mode.DYNAMIC, QuantConfig.Precision.INT8));
        String out = new File(dir, "unfolded").getPath();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ArtifactWriter.writeGraph(ST, out, false,
                new ArtifactWriter.GraphContent(g, META, provenance(), Map.of(), Map.of(), Map.of(), qm), false));
        assertTrue(e.getMessage().contains("fold the batch normalizations"), e.getMessage());
        assertFalse(new File(out).exists());
    }

    /** Two graphs compute the same outputs with the same parameters. */
    static final class LoadedModelCheck {
        static void sameGraph(ComputationGraph want, ComputationGraph got, INDArray x) {
            assertEquals(want.params(), got.params());
            assertEquals(want.outputSingle(false, x), got.outputSingle(false, x));
        }
    }
}
