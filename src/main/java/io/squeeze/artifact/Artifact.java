package io.squeeze.artifact;

import io.squeeze.core.Storage;
import io.squeeze.core.BadInputException;
import io.squeeze.model.Json;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.SourceKind;
import io.squeeze.quantize.QuantizedModel;
import org.apache.hadoop.fs.Path;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * A loaded, verified artifact: the network (decoded from {@code packed/}) and its manifest.
 *
 * <p>{@link #load} refuses an artifact without {@code _SUCCESS}, whose {@code _SUCCESS} does not hold the
 * manifest's sha256, or any of whose files is missing or differs from the size and sha256 in the manifest.
 *
 * @param model    the network with metadata; {@code storedBytes} is the packed form's size
 * @param quant    the quantized form of a quantized artifact, else null
 * @param manifest the manifest
 * @param path     where it was loaded from
 */
public record Artifact(LoadedModel model, QuantizedModel quant, Manifest manifest, Path path) {

    /** The model with its quantized form, as runtimes take it. */
    public Loaded loaded() {
        return new Loaded(model, quant);
    }

    /** Loads an artifact from any Hadoop URI with the default Hadoop configuration ({@code spark.hadoop.*} applied). */
    public static Artifact load(String uri) {
        return load(Storage.withSparkDefaults(), uri);
    }

    public static Artifact load(Storage st, String uri) {
        Path dir = st.path(uri);
        if (!st.exists(dir)) throw new BadInputException("artifact " + dir + " does not exist");
        if (!st.isDirectory(dir)) throw new BadInputException("artifact " + dir + " is not a directory");
        Path success = new Path(dir, ArtifactWriter.SUCCESS);
        if (!st.exists(success)) throw new BadInputException("artifact " + dir + " is incomplete: no " + ArtifactWriter.SUCCESS);
        Path mp = new Path(dir, ArtifactWriter.MANIFEST);
        if (!st.exists(mp)) throw new BadInputException("artifact " + dir + " is incomplete: no " + ArtifactWriter.MANIFEST);
        byte[] manifestBytes = st.readAll(mp, "artifact manifest");
        String expected = new String(st.readAll(success, "artifact marker"), StandardCharsets.US_ASCII).trim();
        if (!expected.equals(Storage.sha256(manifestBytes)))
            throw new BadInputException("artifact " + dir + " is corrupt: " + ArtifactWriter.MANIFEST + " does not match the checksum in " + ArtifactWriter.SUCCESS);
        Manifest m;
        try {
            m = Json.read(manifestBytes, Manifest.class);
        } catch (RuntimeException e) {
            throw new BadInputException("artifact " + dir + ": " + ArtifactWriter.MANIFEST + " is not valid (" + e.getMessage() + ")");
        }
        if (m.formatVersion() > Manifest.FORMAT_VERSION)
            throw new BadInputException("artifact " + dir + " has format version " + m.formatVersion() + "; this Squeeze reads up to " + Manifest.FORMAT_VERSION);
        Map<String, byte[]> files = new HashMap<>();
        long packedBytes = 0;
        for (Map.Entry<String, Manifest.FileRecord> e : m.files().entrySet()) {
            Path p = new Path(dir, e.getKey());
            if (!st.exists(p)) throw new BadInputException("artifact " + dir + " is incomplete: " + e.getKey() + " is missing");
            byte[] b = st.readAll(p, "artifact file");
            if (b.length != e.getValue().bytes() || !Storage.sha256(b).equals(e.getValue().sha256()))
                throw new BadInputException("artifact " + dir + " is corrupt: " + e.getKey() + " does not match its size/sha256 in the manifest");
            files.put(e.getKey(), b);
            if (e.getKey().startsWith("packed/")) packedBytes += b.length;
        }
        if (AdapterArtifact.isAdapter(m)) {
            long stored = m.files().values().stream().mapToLong(Manifest.FileRecord::bytes).sum();
            return new Artifact(AdapterArtifact.load(st, dir, m, files, stored), null, m, dir);
        }
        PackedModel.Decoded d = PackedModel.decode(k -> {
            byte[] b = files.get(k);
            if (b == null) throw new BadInputException("artifact " + dir + " is incomplete: the manifest does not list " + k);
            return b;
        }, files::containsKey, dir.toString());
        String sha = m.files().containsKey(ArtifactWriter.MODEL_ZIP) ? m.files().get(ArtifactWriter.MODEL_ZIP).sha256() : "";
        io.squeeze.model.LayerSupport.checkFinite(d.net(), dir.toString());
        return new Artifact(new LoadedModel(d.net(), d.meta(), sha, dir.toString(), SourceKind.ARTIFACT, packedBytes, d.masks()), d.quant(), m, dir);
    }
}
