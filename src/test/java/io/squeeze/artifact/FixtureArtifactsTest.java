package io.squeeze.artifact;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.model.Logits;
import io.squeeze.quantize.QuantRunner;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Artifacts written by earlier Squeezes (format version 1 in {@code fixtures/artifacts-v1/}, with a {@code model.zip}
 * each; format 2, lean, in {@code fixtures/artifacts-v2/}; both made by {@code make-artifacts.sh}: dense, pruned, shrunk,
 * int8/int4/fp16, dynamic, factorized, a LoRA adapter) keep loading,
 * with every checksum verified, and keep computing the outputs recorded when the fixtures were added
 * ({@code expected.json}: float logits, and the integer path's outputs for quantized ones, on fixed inputs).
 * A later change that misreads a stored format — e.g. a quantized format stored by enum position — fails here.
 */
class FixtureArtifactsTest {
    static final Path ROOT = Path.of("src/test/resources/fixtures/artifacts-v1");
    /** Each committed fixture set by its format version. */
    static final Map<Integer, Path> SETS = Map.of(1, ROOT, 2, Path.of("src/test/resources/fixtures/artifacts-v2"));
    static final Storage ST = new Storage(new Configuration());
    static final int ROWS = 6, FEATURES = 64;
    static final ObjectMapper JSON = new ObjectMapper();

    static float[] inputs() {
        Random r = new Random(11);
        float[] x = new float[ROWS * FEATURES];
        for (int i = 0; i < x.length; i++) x[i] = r.nextInt(17); // digits pixels are 0..16
        return x;
    }

    static List<Path> fixtures(Path root) throws IOException {
        try (Stream<Path> s = Files.list(root)) {
            return s.filter(Files::isDirectory).sorted().toList();
        }
    }

    /** Outputs of a fixture on {@link #inputs()}: the float network's logits, and the integer path's for quantized ones. */
    static Map<String, Object> outputs(Artifact a) {
        var meta = a.model().meta();
        float[] x = meta.normalizer().appliedRows(inputs(), ROWS);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("params", a.model().net().numParams());
        out.put("logits", Logits.of(a.model().net(), x, ROWS, FEATURES));
        if (a.quant() != null) out.put("integer", new QuantRunner(a.quant()).run(x, ROWS, FEATURES, QuantRunner.Path.INTEGER, null));
        return out;
    }

    @Test
    void everyFixtureLoadsVerifiedAndComputesWhatItComputedWhenWritten() throws IOException {
        // -Dsqueeze.fixtures.write=N records the outputs of the newly made set of format N (make-artifacts.sh)
        int write = Integer.getInteger("squeeze.fixtures.write", 0);
        for (int version : new int[]{1, 2}) {
            List<String> names = new ArrayList<>();
            for (Path dir : fixtures(SETS.get(version))) {
                names.add(dir.getFileName().toString());
                Artifact a = Artifact.load(ST, dir.toString());
                assertEquals(version, a.manifest().formatVersion(), dir.toString());
                if (!AdapterArtifact.isAdapter(a.manifest())) // adapters never held one
                    assertEquals(version == 1, a.manifest().files().containsKey("model.zip"), dir.toString());
                Map<String, Object> now = outputs(a);
                File expected = dir.resolveSibling(dir.getFileName() + ".expected.json").toFile();
                if (write == version) {
                    JSON.writerWithDefaultPrettyPrinter().writeValue(expected, now);
                    continue;
                }
                Map<?, ?> then = JSON.readValue(expected, Map.class);
                assertEquals(((Number) then.get("params")).longValue(), now.get("params"), dir + " params");
                assertEquals(then.containsKey("integer"), now.containsKey("integer"), dir + " quantized");
                for (String k : new String[]{"logits", "integer"}) {
                    if (!then.containsKey(k)) continue;
                    List<?> e = (List<?>) then.get(k);
                    float[] v = (float[]) now.get(k);
                    assertEquals(e.size(), v.length, dir + " " + k);
                    for (int i = 0; i < v.length; i++)
                        assertEquals(((Number) e.get(i)).floatValue(), v[i], 1e-5f * Math.max(1f, Math.abs(v[i])), dir + " " + k + "[" + i + "]");
                }
            }
            assertEquals(List.of("dense", "factorized", "fp16", "int4-affine-tensor", "int8-dynamic", "lora-adapter", "pruned-int8-static",
                    "pruned-l1", "pruned-ln-shrunk"), names);
        }
    }

    @Test
    void aFixtureWithOneByteChangedIsRefused(@TempDir Path tmp) throws IOException {
        Path copy = tmp.resolve("pruned-int8-static");
        Files.createDirectories(copy.resolve("packed"));
        try (Stream<Path> s = Files.walk(ROOT.resolve("pruned-int8-static"))) {
            for (Path p : s.filter(Files::isRegularFile).toList())
                Files.copy(p, copy.resolve(ROOT.resolve("pruned-int8-static").relativize(p).toString()), StandardCopyOption.REPLACE_EXISTING);
        }
        Path bin = copy.resolve("packed/tensors.bin");
        byte[] b = Files.readAllBytes(bin);
        b[b.length / 2] ^= 1;
        Files.write(bin, b);
        BadInputException e = assertThrows(BadInputException.class, () -> Artifact.load(ST, copy.toString()));
        assertTrue(e.getMessage().endsWith("is corrupt: packed/tensors.bin does not match its size/sha256 in the manifest"), e.getMessage());
    }

    @Test
    void anAdapterCopiedTogetherWithItsBaseFindsTheBaseBesideIt(@TempDir Path tmp) throws IOException {
        for (String name : new String[]{"dense", "lora-adapter"})
            try (Stream<Path> s = Files.walk(ROOT.resolve(name))) {
                for (Path p : s.toList()) {
                    Path to = tmp.resolve(name).resolve(ROOT.resolve(name).relativize(p).toString());
                    if (Files.isDirectory(p)) Files.createDirectories(to);
                    else Files.copy(p, to);
                }
            }
        Artifact moved = Artifact.load(ST, tmp.resolve("lora-adapter").toString());
        Artifact original = Artifact.load(ST, ROOT.resolve("lora-adapter").toString());
        assertEquals(List.of(outputs(original).get("params")), List.of(outputs(moved).get("params")));
        float[] a = (float[]) outputs(original).get("logits"), m = (float[]) outputs(moved).get("logits");
        for (int i = 0; i < a.length; i++) assertEquals(a[i], m[i], 0f);
    }
}
