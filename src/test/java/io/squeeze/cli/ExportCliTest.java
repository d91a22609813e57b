package io.squeeze.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.squeeze.TestModels;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.Storage;
import io.squeeze.model.ModelIO;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code squeeze export --format dl4j}: the DL4J zip of any artifact, the bytes {@code --with-dl4j-zip} writes. */
class ExportCliTest {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures/artifacts-v1");
    static final String TEST = "csv:data/digits/digits-test.csv.gz";
    static final Storage ST = new Storage(new Configuration());
    @TempDir
    static Path dir;

    static Path export(String model, String name) {
        Path out = dir.resolve(name + ".zip");
        CliRun r = CliRun.run("export", "--model", model, "--format", "dl4j", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        return out;
    }

    @Test
    void everyFormatOneFixtureExportsTheZipItsArtifactHolds() throws Exception {
        // format 1 always wrote model.zip (its entries then carried the time of writing): the network decoded from
        // packed/ makes the same entries, byte for byte
        for (String name : List.of("dense", "factorized", "fp16", "int4-affine-tensor", "int8-dynamic", "pruned-int8-static", "pruned-l1",
                "pruned-ln-shrunk")) {
            Path out = export(FIXTURES.resolve(name).toString(), name);
            Map<String, byte[]> then = entries(FIXTURES.resolve(name).resolve("model.zip")), now = entries(out);
            assertEquals(then.keySet(), now.keySet(), name);
            for (String e : then.keySet()) assertArrayEquals(then.get(e), now.get(e), name + " " + e);
        }
    }

    static Map<String, byte[]> entries(Path zip) throws Exception {
        Map<String, byte[]> out = new java.util.TreeMap<>();
        try (var z = new java.util.zip.ZipFile(zip.toFile())) {
            for (var e : java.util.Collections.list(z.entries()))
                try (var in = z.getInputStream(e)) {
                    out.put(e.getName(), in.readAllBytes());
                }
        }
        return out;
    }

    @Test
    void aLeanArtifactExportsTheZipThatWithDl4jZipWrites() throws Exception {
        String dense = FIXTURES.resolve("dense").toString();
        String lean = dir.resolve("lean").toString(), withZip = dir.resolve("with-zip").toString();
        for (String[] run : new String[][]{{"--out", lean}, {"--with-dl4j-zip", "--out", withZip}}) {
            List<String> args = new java.util.ArrayList<>(List.of("quantize", "--model", dense, "--mode", "dynamic", "--bits", "8"));
            args.addAll(List.of(run));
            CliRun r = CliRun.run(args.toArray(String[]::new));
            assertEquals(0, r.code(), r.err());
        }
        assertFalse(Files.exists(Path.of(lean, "model.zip")));
        Path out = export(lean, "lean");
        assertArrayEquals(Files.readAllBytes(Path.of(withZip, "model.zip")), Files.readAllBytes(out));
        // the exported zip holds the dequantized weights the artifact's integers stand for
        float[] dq = Artifact.load(ST, lean).quant().weights().get(0).dequantize();
        float[] w = ModelIO.loadFile(ST, new org.apache.hadoop.fs.Path(out.toString())).net().getLayer(0).getParam("W").dup('c').data().asFloat();
        assertArrayEquals(dq, w, 0f);
    }

    @Test
    void anAdapterArtifactExportsItsMergedNetwork() {
        String adapter = FIXTURES.resolve("lora-adapter").toString();
        Path out = export(adapter, "merged");
        TestModels.assertSameWeights(Artifact.load(ST, adapter).model().net(), ModelIO.loadFile(ST, new org.apache.hadoop.fs.Path(out.toString())).net());
    }
}
