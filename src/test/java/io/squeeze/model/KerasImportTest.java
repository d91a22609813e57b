package io.squeeze.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.artifact.Models;
import io.squeeze.core.Storage;
import io.squeeze.cli.CliRun;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.File;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Keras 2 .h5 files written by committed generators (src/test/resources/keras/make_keras_h5.py, a Sequential model;
 * make_keras_functional_h5.py, functional-API models) import with NumPy's outputs; a functional model that branches is
 * refused naming its merges and forks.
 */
class KerasImportTest {
    static final String H5 = new File("src/test/resources/keras/tiny-mlp.h5").getAbsolutePath();

    @Test
    void importedModelComputesWhatNumpyComputes() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/tiny-mlp-expected.json"));
        LoadedModel m = Models.load(new Storage(new Configuration()), H5);
        assertEquals(SourceKind.KERAS_H5, m.kind());
        assertEquals(4, m.meta().numFeatures());
        assertEquals(3, m.meta().numClasses());
        int n = ref.get("inputs").size();
        float[] x = new float[n * 4];
        for (int i = 0; i < n; i++) for (int j = 0; j < 4; j++) x[i * 4 + j] = (float) ref.get("inputs").get(i).get(j).asDouble();
        INDArray out = m.net().output(Nd4j.create(x, new long[]{n, 4}, 'c'));
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++)
                assertEquals(ref.get("outputs").get(i).get(c).asDouble(), out.getDouble(i, c), 1e-5, "row " + i + " class " + c);
        // Keras' kernel [in, out] is DL4J's W [nIn, nOut]
        assertEquals(ref.get("W1").get(2).get(3).asDouble(), m.net().getLayer(0).getParam("W").getDouble(2, 3), 1e-7);
        // the configuration survives JSON, as executors rebuild it (the converted output layer keeps an updater)
        var rebuilt = io.squeeze.model.NetPayload.of(m.net()).build();
        assertEquals(out, rebuilt.output(Nd4j.create(x, new long[]{n, 4}, 'c')));
    }

    @Test
    void anImportIsTheSameConfigurationOnEveryRun() throws Exception {
        // DL4J's importer seeds every layer with the clock; the stored configuration must not depend on it
        for (String h5 : new String[]{H5, new File("src/test/resources/keras/functional-chain.h5").getAbsolutePath()}) {
            String first = Models.load(new Storage(new Configuration()), h5).net().getLayerWiseConfigurations().toJson();
            Thread.sleep(5);
            String again = Models.load(new Storage(new Configuration()), h5).net().getLayerWiseConfigurations().toJson();
            assertEquals(first, again, h5);
        }
    }

    @Test
    void inspectAndBadH5() throws Exception {
        CliRun r = CliRun.run("inspect", "--model", H5, "--json");
        assertEquals(0, r.code(), r.err());
        assertEquals("keras_h5", new ObjectMapper().readTree(r.out()).get("kind").asText());
        File bad = File.createTempFile("bad", ".h5", new File("target"));
        java.nio.file.Files.writeString(bad.toPath(), "not hdf5");
        CliRun b = CliRun.run("inspect", "--model", bad.getPath());
        assertEquals(2, b.code());
        assertTrue(b.lastErr().endsWith(".h5 is not a Keras .h5 file (no HDF5 signature); is it corrupt?"), b.lastErr());
        assertEquals(1, b.err().strip().lines().count(), "no HDF5 diagnostics: " + b.err());
    }
    @Test
    void aFunctionalChainWithBatchNormalizationImportsWithNumpysOutputsAndFoldsForTheIntegerRuntime() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(new File("src/test/resources/keras/functional-chain-expected.json"));
        LoadedModel m = Models.load(new Storage(new Configuration()), new File("src/test/resources/keras/functional-chain.h5").getAbsolutePath());
        assertEquals(SourceKind.KERAS_H5, m.kind());
        assertEquals(java.util.List.of("hidden", "bn", "relu", "out"), java.util.stream.IntStream.range(0, m.net().getnLayers())
                .mapToObj(i -> m.net().getLayer(i).conf().getLayer().getLayerName()).toList());
        int n = ref.get("inputs").size();
        float[] x = new float[n * 6];
        for (int i = 0; i < n; i++) for (int j = 0; j < 6; j++) x[i * 6 + j] = (float) ref.get("inputs").get(i).get(j).asDouble();
        INDArray out = m.net().output(Nd4j.create(x, new long[]{n, 6}, 'c'));
        var cfg = new io.squeeze.quantize.QuantConfig(io.squeeze.quantize.QuantConfig.Mode.STATIC, io.squeeze.quantize.QuantConfig.Precision.INT8,
                io.squeeze.quantize.QuantConfig.Granularity.CHANNEL, io.squeeze.quantize.QuantConfig.Scheme.SYMMETRIC, false,
                new io.squeeze.quantize.Observer.MinMax(), java.util.List.of());
        float[] ops = new io.squeeze.quantize.QuantRunner(io.squeeze.quantize.QuantizedModel.quantizeWeights(NetOps.of(m.net()), cfg, java.util.Map.of()))
                .run(x, n, 6, io.squeeze.quantize.QuantRunner.Path.FLOAT, null);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) {
                double want = ref.get("outputs").get(i).get(c).asDouble();
                assertEquals(want, out.getDouble(i, c), 1e-5, "DL4J: row " + i + " class " + c);
                assertEquals(want, ops[i * 3 + c], 1e-5, "folded ops: row " + i + " class " + c);
            }
    }

    @Test
    void aFunctionalChainGoesThroughQuantizeAndPrune() throws Exception {
        String h5 = new File("src/test/resources/keras/functional-chain.h5").getAbsolutePath();
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory(java.nio.file.Path.of("target"), "keras-functional");
        CliRun q = CliRun.run("quantize", "--model", h5, "--mode", "dynamic", "--bits", "8", "--out", dir.resolve("int8").toString());
        assertEquals(0, q.code(), q.err());
        assertTrue(q.err().contains("batch normalization layer 1 folded into layer 0"), q.err());
        var a = io.squeeze.artifact.Artifact.load(new Storage(new Configuration()), dir.resolve("int8").toString());
        assertEquals(3, a.model().net().getnLayers(), "hidden (with bn), relu, out");
        assertEquals("quantize:int8", a.manifest().layers().get(0).method());
        CliRun p = CliRun.run("prune", "--model", h5, "--method", "l1", "--amount", "0.5", "--out", dir.resolve("pruned").toString());
        assertEquals(0, p.code(), p.err());
        var pm = io.squeeze.artifact.Artifact.load(new Storage(new Configuration()), dir.resolve("pruned").toString()).model();
        assertEquals(15, pm.masks().get(io.squeeze.core.TensorKey.weights(0)).prunedCount(), "half of hidden's 30 weights");
    }

    @Test
    void aFunctionalModelWithAResidualAddAndAConcatenationIsRefusedNamingThem() {
        CliRun r = CliRun.run("inspect", "--model", new File("src/test/resources/keras/functional-residual.h5").getAbsolutePath());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.lastErr().endsWith("functional-residual.h5 is a graph, not a chain of layers, which Squeeze does not compress yet: "
                + "'d1' feeds 2 vertices (d2, add); 'add' (ElementWiseVertex Add) joins d1, bn2; 'add' feeds 2 vertices (left, right); "
                + "'concat' (MergeVertex) joins left, right"), r.lastErr());
    }
}
