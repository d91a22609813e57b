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
 * A loaded, verified artifact: the network (decoded from {@code packed/}: a layer stack, or a branching graph from
 * format 3 on) and its manifest.
 *
 * <p>{@link #load} refuses an artifact without {@code _SUCCESS}, whose {@code _SUCCESS} does not hold the
 * manifest's sha256, or any of whose files is missing or differs from the size and sha256 in the manifest.
 *
 * <p>The network's identity ({@link LoadedModel#sha256()}, what provenance and LoRA adapters record of a source) is
 * {@link #modelSha256(Manifest)}.
 *
 * @param model    the network with metadata; {@code storedBytes} is the whole artifact directory's size on storage
 * @param quant    the quantized form of a quantized artifact, else null
 * @param manifest the manifest
 * @param path     where it was loaded from
 * @param storage  how each layer's weights are stored in {@code packed/} (e.g. {@code codebook 16 (4 bits), huffman,
 *                 sparse}), by layer; empty for an adapter artifact
 */
public record Artifact(LoadedModel model, QuantizedModel quant, Manifest manifest, Path path, Map<Integer, String> storage) {

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
        byte[] successBytes = st.readAll(success, "artifact marker");
        String expected = new String(successBytes, StandardCharsets.US_ASCII).trim();
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
        long dirBytes = manifestBytes.length + successBytes.length;
        for (Map.Entry<String, Manifest.FileRecord> e : m.files().entrySet()) {
            Path p = new Path(dir, e.getKey());
            if (!st.exists(p)) throw new BadInputException("artifact " + dir + " is incomplete: " + e.getKey() + " is missing");
            byte[] b = st.readAll(p, "artifact file");
            if (b.length != e.getValue().bytes() || !Storage.sha256(b).equals(e.getValue().sha256()))
                throw new BadInputException("artifact " + dir + " is corrupt: " + e.getKey() + " does not match its size/sha256 in the manifest");
            files.put(e.getKey(), b);
            dirBytes += b.length;
        }
        if (AdapterArtifact.isAdapter(m)) return new Artifact(AdapterArtifact.load(st, dir, m, files, dirBytes), null, m, dir, Map.of());
        PackedModel.Decoded d = PackedModel.decode(k -> {
            byte[] b = files.get(k);
            if (b == null) throw new BadInputException("artifact " + dir + " is incomplete: the manifest does not list " + k);
            return b;
        }, files::containsKey, dir.toString());
        if (d.graph() != null) {
            io.squeeze.model.LayerSupport.checkFinite(d.graph().getLayers(), dir.toString());
            return new Artifact(new LoadedModel(null, d.meta(), modelSha256(m), dir.toString(), SourceKind.ARTIFACT, dirBytes, d.masks(), d.graph()),
                    d.quant(), m, dir, d.storage());
        }
        io.squeeze.model.LayerSupport.checkFinite(d.net(), dir.toString());
        return new Artifact(new LoadedModel(d.net(), d.meta(), modelSha256(m), dir.toString(), SourceKind.ARTIFACT, dirBytes, d.masks()), d.quant(), m, dir, d.storage());
    }

    /**
     * The network's identity in an artifact: from format 2 on, the sha256 of the {@code packed/} files' names and
     * sha256s, one {@code "name sha256\n"} line each in name order (whether or not a {@code model.zip} is there too);
     * in format 1, which always held a {@code model.zip}, that file's sha256, as those artifacts recorded it. Either
     * way it depends on the network alone, not on when it was written.
     */
    public static String modelSha256(Manifest m) {
        Manifest.FileRecord zip = m.files().get(ArtifactWriter.MODEL_ZIP);
        if (m.formatVersion() < 2 && zip != null) return zip.sha256();
        StringBuilder lines = new StringBuilder();
        new java.util.TreeMap<>(m.files()).forEach((name, r) -> {
            if (name.startsWith("packed/")) lines.append(name).append(' ').append(r.sha256()).append('\n');
        });
        return Storage.sha256(lines.toString().getBytes(StandardCharsets.UTF_8));
    }
}
