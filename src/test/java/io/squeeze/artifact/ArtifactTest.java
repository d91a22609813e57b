package io.squeeze.artifact;

import io.squeeze.core.Storage;
import io.squeeze.core.BadInputException;
import io.squeeze.TestArtifacts;
import io.squeeze.TestModels;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.SourceKind;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class ArtifactTest {
    static final Storage ST = new Storage(new Configuration());

    @TempDir
    Path dir;

    static Manifest write(String uri, boolean overwrite, MultiLayerNetwork net, ModelMeta meta) {
        return write(uri, overwrite, net, meta, false);
    }

    static Manifest write(String uri, boolean overwrite, MultiLayerNetwork net, ModelMeta meta, boolean dl4jZip) {
        return ArtifactWriter.write(ST, uri, overwrite, ArtifactWriter.Content.dense(net, meta,
                new ArtifactWriter.Provenance("src.zip", "abc", List.of("train", "--x"), Map.of("epochs", 3)), Map.of("accuracy", 0.5)), dl4jZip);
    }

    @Test
    void writeThenLoadRestoresExactWeightsAndProvenance() throws Exception {
        MultiLayerNetwork net = TestModels.mlp(10, new int[]{8, 6}, 3, 7);
        ModelMeta meta = TestModels.minmaxMeta(10, 3);
        String uri = dir.resolve("a").toString();
        Manifest written = write(uri, false, net, meta);
        Artifact a = Artifact.load(ST, uri);
        TestModels.assertSameWeights(net, a.model().net());
        assertEquals(meta, a.model().meta());
        assertEquals(SourceKind.ARTIFACT, a.model().kind());
        Manifest m = a.manifest();
        assertEquals(2, m.formatVersion());
        assertEquals("abc", m.sourceSha256());
        assertEquals(List.of("train", "--x"), m.command());
        assertEquals(3, m.config().get("epochs"));
        assertEquals(0.5, m.metrics().get("accuracy"));
        assertEquals(written.files().keySet(), m.files().keySet());
        // lean: packed/ alone holds the network
        assertEquals(java.util.Set.of("packed/config.json.gz", "packed/tensors.bin", "packed/tensors.json", "packed/meta.json"), m.files().keySet());
        assertEquals(3, m.layers().size());
        assertEquals(10 * 8 + 8, m.layers().get(0).params());
        assertEquals("none", m.layers().get(0).method());
        // the size reported is the whole directory on disk
        assertEquals(TestArtifacts.directoryBytes(Path.of(uri)), a.model().storedBytes());
        assertEquals(Artifact.modelSha256(m), a.model().sha256());
        // nothing left beside it
        try (var s = Files.list(dir)) {
            assertEquals(List.of("a"), s.map(p -> p.getFileName().toString()).toList());
        }
        assertEquals(Storage.sha256(Files.readAllBytes(Path.of(uri, "manifest.json"))), Files.readString(Path.of(uri, "_SUCCESS")));
    }

    @Test
    void aDl4jZipIsWrittenOnlyWhenAskedForAndIsThePlainNetwork() throws Exception {
        MultiLayerNetwork net = TestModels.mlp(10, new int[]{8, 6}, 3, 7);
        ModelMeta meta = TestModels.minmaxMeta(10, 3);
        String lean = dir.resolve("lean").toString(), withZip = dir.resolve("zip").toString();
        Manifest ml = write(lean, false, net, meta), mz = write(withZip, false, net, meta, true);
        assertFalse(Files.exists(Path.of(lean, "model.zip")));
        assertEquals(Files.size(Path.of(withZip, "model.zip")), mz.files().get("model.zip").bytes());
        // model.zip is a plain DL4J zip of the same network; packed/ is the same bytes either way
        TestModels.assertSameWeights(net, ModelSerializer.restoreMultiLayerNetwork(new File(withZip, "model.zip")));
        for (String f : ml.files().keySet()) assertEquals(ml.files().get(f), mz.files().get(f), f);
        Artifact a = Artifact.load(ST, lean), z = Artifact.load(ST, withZip);
        TestModels.assertSameWeights(z.model().net(), a.model().net());
        assertEquals(TestArtifacts.directoryBytes(Path.of(withZip)), z.model().storedBytes());
        assertEquals(TestArtifacts.directoryBytes(Path.of(lean)), a.model().storedBytes());
    }

    @Test
    void existingOutputIsKeptWithoutOverwriteAndReplacedWithIt() throws Exception {
        String uri = dir.resolve("a").toString();
        write(uri, false, TestModels.mlp(4, new int[]{3}, 2, 1), TestModels.meta(4, 2));
        byte[] before = Files.readAllBytes(Path.of(uri, "manifest.json"));
        var e = assertThrows(BadInputException.class, () -> write(uri, false, TestModels.mlp(4, new int[]{5}, 2, 2), TestModels.meta(4, 2)));
        assertTrue(e.getMessage().endsWith("exists; pass --overwrite to replace it"), e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(Path.of(uri, "manifest.json")));
        MultiLayerNetwork n2 = TestModels.mlp(4, new int[]{5}, 2, 2);
        write(uri, true, n2, TestModels.meta(4, 2));
        TestModels.assertSameWeights(n2, Artifact.load(ST, uri).model().net());
        try (var s = Files.list(dir)) {
            assertEquals(1, s.count());
        }
    }

    @Test
    void tamperedOrIncompleteArtifactsAreRefused() throws Exception {
        String uri = dir.resolve("a").toString();
        write(uri, false, TestModels.mlp(4, new int[]{3}, 2, 1), TestModels.meta(4, 2));
        Path blob = Path.of(uri, "packed/tensors.bin");
        byte[] orig = Files.readAllBytes(blob);
        byte[] bad = orig.clone();
        bad[bad.length / 2] ^= 1;
        Files.write(blob, bad);
        var e = assertThrows(BadInputException.class, () -> Artifact.load(ST, uri));
        assertTrue(e.getMessage().endsWith("is corrupt: packed/tensors.bin does not match its size/sha256 in the manifest"), e.getMessage());
        Files.write(blob, orig);
        Artifact.load(ST, uri);

        Path idx = Path.of(uri, "packed/tensors.json");
        byte[] idxBytes = Files.readAllBytes(idx);
        Files.delete(idx);
        e = assertThrows(BadInputException.class, () -> Artifact.load(ST, uri));
        assertTrue(e.getMessage().endsWith("is incomplete: packed/tensors.json is missing"), e.getMessage());
        Files.write(idx, idxBytes);

        Path manifest = Path.of(uri, "manifest.json");
        String m = Files.readString(manifest);
        Files.writeString(manifest, m.replace("\"abc\"", "\"abd\""));
        e = assertThrows(BadInputException.class, () -> Artifact.load(ST, uri));
        assertTrue(e.getMessage().contains("manifest.json does not match the checksum in _SUCCESS"), e.getMessage());
        Files.writeString(manifest, m);

        Files.delete(Path.of(uri, "_SUCCESS"));
        e = assertThrows(BadInputException.class, () -> Artifact.load(ST, uri));
        assertTrue(e.getMessage().endsWith("is incomplete: no _SUCCESS"), e.getMessage());
        assertThrows(BadInputException.class, () -> Artifact.load(ST, dir.resolve("nope").toString()));
    }

    @Test
    void outputUnderAFileCannotBeWritten() throws Exception {
        Path file = Files.writeString(dir.resolve("f"), "x");
        var e = assertThrows(BadInputException.class, () -> write(file.resolve("a").toString(), false,
                TestModels.mlp(4, new int[]{3}, 2, 1), TestModels.meta(4, 2)));
        assertTrue(e.getMessage().contains("cannot be written") && e.getMessage().endsWith("is a file"), e.getMessage());
        assertEquals("x", Files.readString(file));
    }

    @Test
    void modelsResolvesEveryKind() throws Exception {
        MultiLayerNetwork net = TestModels.mlp(5, new int[]{4}, 3, 3);
        String a = dir.resolve("art").toString();
        write(a, false, net, TestModels.meta(5, 3), true);
        LoadedModel fromArtifact = Models.load(ST, a);
        assertEquals(SourceKind.ARTIFACT, fromArtifact.kind());
        LoadedModel fromZip = Models.load(ST, dir.resolve("art/model.zip").toString());
        assertEquals(SourceKind.DL4J_ZIP, fromZip.kind());
        TestModels.assertSameWeights(fromArtifact.net(), fromZip.net());
        // the network's identity in an artifact is its packed form's, whether a model.zip is there or not
        assertEquals(Artifact.modelSha256(Artifact.load(ST, a).manifest()), fromArtifact.sha256());
        String lean = dir.resolve("lean").toString();
        write(lean, false, net, TestModels.meta(5, 3));
        assertEquals(fromArtifact.sha256(), Models.load(ST, lean).sha256());
        var e = assertThrows(BadInputException.class, () -> Models.load(ST, dir.resolve("missing.zip").toString()));
        assertTrue(e.getMessage().startsWith("model ") && e.getMessage().endsWith("missing.zip does not exist"), e.getMessage());
    }
}
