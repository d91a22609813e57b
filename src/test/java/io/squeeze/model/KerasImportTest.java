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

/** A Keras 2 Sequential .h5 (written by src/test/resources/keras/make_keras_h5.py) imports with NumPy's outputs. */
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
}
