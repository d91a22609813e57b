package io.squeeze.artifact;

import io.squeeze.core.TensorKey;
import io.squeeze.core.Storage;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Version;
import io.squeeze.model.Json;
import io.squeeze.model.LayerStats;
import io.squeeze.model.ModelIO;
import io.squeeze.model.ModelMeta;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import io.squeeze.core.Mask;

/**
 * Writes an artifact directory — of a layer stack ({@link #write}) or of a branching graph ({@link #writeGraph}):
 * {@code packed/} (which alone rebuilds the network), {@code manifest.json} (with every
 * other file's size and sha256) and {@code _SUCCESS} last (holding the manifest's sha256); with {@code dl4jZip} also
 * {@code model.zip}, the network as a plain DL4J zip for DL4J users (the weights as the network computes with them:
 * masked, dequantized).
 *
 * <p>Where renaming a directory is atomic (local disk, HDFS) everything is written to a hidden sibling and
 * renamed into place, so the artifact appears complete or not at all. On object stores (S3) files are written in
 * place with {@code _SUCCESS} last; readers refuse an artifact without it. An existing artifact is replaced only
 * with {@code overwrite}, and only once the new one is complete (on object stores the old one is removed,
 * {@code _SUCCESS} first, just before writing).
 */
public final class ArtifactWriter {
    public static final String MODEL_ZIP = "model.zip", MANIFEST = "manifest.json", SUCCESS = "_SUCCESS";

    private ArtifactWriter() {}

    /** Where the artifact came from and how. */
    public record Provenance(String sourceModel, String sourceSha256, List<String> command, Map<String, Object> config) {}

    /** What was done to one layer. */
    public record LayerNote(String method, Map<String, Object> details) {
        public static final LayerNote NONE = new LayerNote("none", Map.of());
    }

    /**
     * Everything that goes into an artifact.
     *
     * @param notes per layer index; layers not listed are recorded as {@link LayerNote#NONE}
     * @param masks pruning masks per tensor; those tensors are stored sparse
     * @param quant the quantized form, or null: its weight tensors are stored as integers (or fp16) with their qparams
     */
    public record Content(MultiLayerNetwork net, ModelMeta meta, Provenance provenance, Map<Integer, LayerNote> notes,
                          Map<String, Object> metrics, Map<TensorKey, Mask> masks, io.squeeze.quantize.QuantizedModel quant) {
        public Content(MultiLayerNetwork net, ModelMeta meta, Provenance provenance, Map<Integer, LayerNote> notes,
                       Map<String, Object> metrics, Map<TensorKey, Mask> masks) {
            this(net, meta, provenance, notes, metrics, masks, null);
        }

        public static Content dense(MultiLayerNetwork net, ModelMeta meta, Provenance p, Map<String, Object> metrics) {
            return new Content(net, meta, p, Map.of(), metrics, Map.of());
        }
    }

    /**
     * Everything that goes into a branching graph's artifact (format 3), as {@link Content} for a stack.
     *
     * @param notes by vertex name; layers not listed are recorded as {@link LayerNote#NONE}
     * @param masks by the tensor's layer's place in {@code graph.getLayers()}
     * @param quant the quantized form of the graph's nodes, or null; the graph must have its batch normalizations
     *              folded into its convolutions (each quantized node's weights are its layer's {@code W})
     */
    public record GraphContent(ComputationGraph graph, ModelMeta meta, Provenance provenance, Map<String, LayerNote> notes,
                               Map<String, Object> metrics, Map<TensorKey, Mask> masks, io.squeeze.quantize.QuantizedModel quant) {}

    /**
     * Fails fast, before any work, when the output exists (without {@code overwrite}) or cannot be created.
     * Returns the qualified output path.
     */
    public static Path checkTarget(Storage st, String uri, boolean overwrite) {
        Path out = checkPlace(st, uri, overwrite);
        st.checkWritable(out);
        return out;
    }

    /** The checks of {@link #checkTarget(Storage, String, boolean)} that write nothing. */
    private static Path checkPlace(Storage st, String uri, boolean overwrite) {
        Path out = st.path(uri);
        io.squeeze.core.Orphans.restore(st, out);
        if (st.exists(out) && !overwrite)
            throw new BadInputException("output " + out + " exists; pass --overwrite to replace it");
        for (Path p = out.getParent(); p != null; p = p.getParent()) {
            if (st.exists(p)) {
                if (!st.isDirectory(p)) throw new BadInputException("output " + out + " cannot be written: " + p + " is a file");
                break;
            }
        }
        return out;
    }

    /**
     * As {@link #checkTarget(Storage, String, boolean)}, and refuses an output that is one of the job's {@code inputs}
     * or lies inside or around one (e.g. an artifact written into its own source's {@code packed/}).
     */
    public static Path checkTarget(Storage st, String uri, boolean overwrite, List<String> inputs) {
        Path out = checkPlace(st, uri, overwrite);
        String o = key(out);
        for (String in : inputs) {
            String i = key(st.path(in));
            if (o.equals(i)) throw new BadInputException("output " + out + " is the job's input " + i + "; write the result elsewhere");
            if (o.startsWith(i + "/")) throw new BadInputException("output " + out + " is inside the job's input " + i + "; write the result elsewhere");
            if (i.startsWith(o + "/")) throw new BadInputException("output " + out + " holds the job's input " + i + "; write the result elsewhere");
        }
        st.checkWritable(out);
        return out;
    }

    /** A qualified path as scheme://authority/path, however it was spelled ({@code file:/x} and {@code file:///x} alike). */
    private static String key(Path p) {
        java.net.URI u = p.toUri().normalize();
        return u.getScheme() + "://" + (u.getAuthority() == null ? "" : u.getAuthority()) + u.getPath().replaceAll("/+$", "");
    }

    /** An artifact, with {@code model.zip} beside {@code packed/} when {@code dl4jZip}. */
    public static Manifest write(Storage st, String uri, boolean overwrite, Content c, boolean dl4jZip) {
        Path out = checkTarget(st, uri, overwrite);
        Map<String, byte[]> files = new LinkedHashMap<>();
        if (dl4jZip) files.put(MODEL_ZIP, ModelIO.toZip(c.net(), c.meta()));
        PackedModel.Encoded packed = PackedModel.encode(c.net(), c.meta(), c.masks(), c.quant());
        files.putAll(packed.files());
        return commit(st, out, overwrite, files, c.provenance(), layers(c, packed.bytesPerLayer()), c.metrics());
    }

    /** A branching graph's artifact, with {@code model.zip} (its DL4J zip) beside {@code packed/} when {@code dl4jZip}. */
    public static Manifest writeGraph(Storage st, String uri, boolean overwrite, GraphContent c, boolean dl4jZip) {
        Path out = checkTarget(st, uri, overwrite);
        Map<String, byte[]> files = new LinkedHashMap<>();
        PackedModel.Encoded packed = PackedModel.encode(c.graph(), c.meta(), c.masks(), c.quant());
        if (dl4jZip) { // the weights as the graph computes with them: a quantized graph's dequantized, as packed/ restores them
            ComputationGraph g = c.quant() == null ? c.graph() : PackedModel.decode(packed.files()::get, packed.files()::containsKey, uri).graph();
            files.put(MODEL_ZIP, ModelIO.toZip(g, c.meta()));
        }
        files.putAll(packed.files());
        List<Manifest.LayerRecord> layers = new ArrayList<>();
        for (LayerStats s : LayerStats.of(c.graph().getLayers())) {
            LayerNote n = c.notes().getOrDefault(s.name(), LayerNote.NONE);
            layers.add(new Manifest.LayerRecord(s.index(), s.name(), s.type(), n.method(), s.params(), s.nonzeros(), s.sparsity(), s.denseBytes(),
                    packed.bytesPerLayer()[s.index()], n.details()));
        }
        return commit(st, out, overwrite, files, c.provenance(), layers, c.metrics(), Manifest.FORMAT_VERSION);
    }

    /**
     * Adds {@code manifest.json} (listing every file's size and sha256) and {@code _SUCCESS} to {@code files} and
     * writes them as an artifact at {@code out}: atomically where the filesystem allows, else {@code _SUCCESS} last.
     */
    static Manifest commit(Storage st, Path out, boolean overwrite, Map<String, byte[]> files, Provenance p,
                           List<Manifest.LayerRecord> layers, Map<String, Object> metrics) {
        return commit(st, out, overwrite, files, p, layers, metrics, Manifest.STACK_FORMAT);
    }

    /** As above, the manifest of format {@code version}. */
    static Manifest commit(Storage st, Path out, boolean overwrite, Map<String, byte[]> files, Provenance p,
                           List<Manifest.LayerRecord> layers, Map<String, Object> metrics, int version) {
        Map<String, Manifest.FileRecord> records = new LinkedHashMap<>();
        files.forEach((k, v) -> records.put(k, new Manifest.FileRecord(v.length, Storage.sha256(v))));
        Manifest m = manifest(version, records, p, layers, metrics);
        publish(st, out, overwrite, files, Json.bytes(m));
        return m;
    }

    /** The manifest (format {@code version}) of an artifact holding files with {@code records}. */
    static Manifest manifest(int version, Map<String, Manifest.FileRecord> records, Provenance p, List<Manifest.LayerRecord> layers, Map<String, Object> metrics) {
        return new Manifest(version, Version.version(), Version.gitCommit(), Instant.now().toString(),
                p.sourceModel(), p.sourceSha256(), p.command(), p.config(), layers, metrics, records, null);
    }

    /** Writes {@code m} and then {@code _SUCCESS} (holding the manifest's sha256) into {@code dir}. */
    static void finish(Storage st, Path dir, Manifest m) {
        byte[] manifest = Json.bytes(m);
        st.write(new Path(dir, MANIFEST), manifest);
        st.write(new Path(dir, SUCCESS), Storage.sha256(manifest).getBytes(StandardCharsets.US_ASCII));
    }

    private static List<Manifest.LayerRecord> layers(Content c, long[] bytesAfter) {
        List<Manifest.LayerRecord> out = new ArrayList<>();
        for (LayerStats s : LayerStats.of(c.net())) {
            LayerNote n = c.notes().getOrDefault(s.index(), LayerNote.NONE);
            out.add(new Manifest.LayerRecord(s.index(), s.name(), s.type(), n.method(), s.params(), s.nonzeros(),
                    s.sparsity(), s.denseBytes(), bytesAfter[s.index()], n.details()));
        }
        return out;
    }

    /**
     * Copies the artifact at {@code from} to {@code to} (atomically, {@code _SUCCESS} last) with {@code lineage} in its
     * manifest; every file is checked against the manifest's sha256 on the way. When {@code to} already holds that
     * artifact (its {@code _SUCCESS} names the same manifest) nothing is written. Returns the new manifest.
     */
    public static Manifest copyWithLineage(Storage st, String from, String to, boolean overwrite, List<Map<String, Object>> lineage) {
        Path src = st.path(from), out = st.path(to);
        Manifest copy = Json.read(st.readAll(new Path(src, MANIFEST), "manifest"), Manifest.class).withLineage(lineage);
        byte[] manifest = Json.bytes(copy);
        Path success = new Path(out, SUCCESS);
        if (st.exists(success) && new String(st.readAll(success, "_SUCCESS"), StandardCharsets.US_ASCII).equals(Storage.sha256(manifest)))
            return copy; // already there, complete: nothing is written
        Map<String, byte[]> files = new LinkedHashMap<>();
        for (Map.Entry<String, Manifest.FileRecord> e : copy.files().entrySet()) {
            byte[] b = st.readAll(new Path(src, e.getKey()), "artifact file");
            if (!Storage.sha256(b).equals(e.getValue().sha256()))
                throw new IllegalStateException(new Path(src, e.getKey()) + " does not match its manifest's sha256; the artifact is damaged");
            files.put(e.getKey(), b);
        }
        publish(st, out, overwrite, files, manifest);
        return copy;
    }

    /** {@code files}, then {@code manifest.json}, then {@code _SUCCESS} (its sha256) written as the artifact at {@code out}. */
    private static void publish(Storage st, Path out, boolean overwrite, Map<String, byte[]> files, byte[] manifest) {
        Map<String, byte[]> all = new LinkedHashMap<>(files);
        all.put(MANIFEST, manifest);
        all.put(SUCCESS, Storage.sha256(manifest).getBytes(StandardCharsets.US_ASCII));
        st.publish(out, overwrite, dir -> writeAll(st, dir, all)); // _SUCCESS is the last entry
    }

    private static void writeAll(Storage st, Path dir, Map<String, byte[]> files) {
        int n = 0;
        for (Map.Entry<String, byte[]> e : files.entrySet()) {
            Path p = new Path(dir, e.getKey());
            st.mkdirs(p.getParent());
            st.write(p, e.getValue());
            if (++n == files.size() / 2) io.squeeze.core.FaultPoint.reach(io.squeeze.core.FaultPoint.MID_WRITE);
        }
    }
}
