package io.squeeze.artifact;

import io.squeeze.core.Storage;
import io.squeeze.core.BadInputException;
import io.squeeze.model.Json;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.Lora;
import io.squeeze.model.LoraLayer;
import io.squeeze.model.SourceKind;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * A LoRA adapter artifact: only the adapters' A and B (dense layers' and convolutions') ({@code adapters/tensors.json} + {@code tensors.bin}, the
 * packed format's index and DEFLATEd float32) and the batch normalizations' running statistics, which follow the data
 * while the adapters train, with the base model referenced by path and sha256 in the manifest
 * and the rank and α in its configuration. Loading fetches the base, checks its sha256, attaches the adapters and
 * returns the merged network. A graph's are stored by vertex name, in a format-3 artifact.
 */
public final class AdapterArtifact {
    public static final String INDEX = "adapters/tensors.json", BLOB = "adapters/tensors.bin";
    /** The index formats: a layer stack's adapters (by layer index), a graph's (by vertex name, format-3 artifact). */
    static final String STACK = "squeeze-lora-adapters", GRAPH = "squeeze-lora-graph-adapters";

    private AdapterArtifact() {}

    /** A layer stack's adapters by layer index ({@code adapted}: the trained network with its adapters). */
    public static Manifest write(Storage st, String uri, boolean overwrite, MultiLayerNetwork adapted, ArtifactWriter.Provenance p,
                                 Map<String, Object> metrics) {
        Path out = ArtifactWriter.checkTarget(st, uri, overwrite);
        Tensors t = new Tensors();
        for (int i = 0; i < adapted.getnLayers(); i++) t.add(i, null, adapted.getLayer(i));
        return ArtifactWriter.commit(st, out, overwrite, t.files(STACK), p, t.layers, metrics);
    }

    /**
     * A graph's adapters by vertex name: each adapted vertex's A and B and the batch normalizations' running statistics,
     * which follow the data while the adapters train, so that the base with them computes what was trained.
     */
    public static Manifest writeGraph(Storage st, String uri, boolean overwrite, ComputationGraph adapted, ArtifactWriter.Provenance p,
                                      Map<String, Object> metrics) {
        Path out = ArtifactWriter.checkTarget(st, uri, overwrite);
        Tensors t = new Tensors();
        var all = adapted.getLayers();
        for (int i = 0; i < all.length; i++) t.add(i, all[i].conf().getLayer().getLayerName(), all[i]);
        return ArtifactWriter.commit(st, out, overwrite, t.files(GRAPH), p, t.layers, metrics, Manifest.FORMAT_VERSION);
    }

    /** What an adapter artifact stores, tensor by tensor: the adapters' A and B, the batch normalizations' running statistics. */
    private static final class Tensors {
        final ByteArrayOutputStream blob = new ByteArrayOutputStream();
        final List<PackedModel.TensorEntry> entries = new ArrayList<>();
        final List<Manifest.LayerRecord> layers = new ArrayList<>();

        /** Layer {@code i} ({@code vertex}: its vertex name in a graph, else null): its adapter or its running statistics, if any. */
        void add(int i, String vertex, org.deeplearning4j.nn.api.Layer layer) {
            var conf = layer.conf().getLayer();
            boolean bn = conf instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization;
            if (!bn && !(conf instanceof LoraLayer)) return;
            long bytes = 0, params = 0;
            for (var e : layer.paramTable().entrySet()) {
                // an adapter's base W and b are the base model's; a batch normalization's scale and shift are frozen
                boolean stored = bn ? !e.getKey().equals("gamma") && !e.getKey().equals("beta") : LoraLayer.trains(e.getKey());
                if (!stored) continue;
                INDArray a = e.getValue();
                byte[] enc = Encoding.F32_DEFLATE.encode(a.dup('c').data().asFloat(), null);
                entries.add(new PackedModel.TensorEntry(i, e.getKey(), a.shape(), Encoding.F32_DEFLATE, blob.size(), enc.length, vertex));
                blob.writeBytes(enc);
                bytes += enc.length;
                params += a.length();
            }
            if (params == 0) return;
            String name = vertex != null ? vertex : conf.getLayerName();
            if (conf instanceof LoraLayer ll) layers.add(new Manifest.LayerRecord(i, name, conf.getClass().getSimpleName(), "lora", params, params, 0,
                    params * 4, bytes, Map.of("rank", ll.rank(), "scale", ll.scale())));
            else layers.add(new Manifest.LayerRecord(i, name, "BatchNormalization", "trained-state", params, params, 0, params * 4, bytes,
                    Map.of("moved", "running statistics")));
        }

        Map<String, byte[]> files(String format) {
            Map<String, byte[]> files = new LinkedHashMap<>();
            files.put(INDEX, Json.compact(new PackedModel.Index(format, 1, entries)));
            files.put(BLOB, blob.toByteArray());
            return files;
        }
    }

    /** Whether the adapter artifact whose index is {@code index} goes on a graph. */
    static boolean onGraph(byte[] index) {
        return GRAPH.equals(Json.read(index, PackedModel.Index.class).format());
    }

    static boolean isAdapter(Manifest m) {
        return m.files().containsKey(INDEX) && !m.files().containsKey(PackedModel.INDEX);
    }

    /**
     * Where the base is: the path the manifest records or, when nothing is there any more (the adapter and its base were
     * copied or moved together), a sibling of the adapter directory with the recorded base's name. Either way the
     * base's sha256 must match the manifest's.
     */
    static String basePath(Storage st, Path dir, Manifest m) {
        Path recorded = st.path(m.sourceModel());
        if (st.exists(recorded) || dir.getParent() == null) return m.sourceModel();
        Path sibling = new Path(dir.getParent(), recorded.getName());
        return st.exists(sibling) ? sibling.toString() : m.sourceModel();
    }

    /** The base with the adapters attached and merged; {@code files} are the verified artifact files. */
    static LoadedModel load(Storage st, Path dir, Manifest m, Map<String, byte[]> files, long storedBytes) {
        PackedModel.Index index = Json.read(files.get(INDEX), PackedModel.Index.class);
        LoadedModel base = Models.load(st, basePath(st, dir, m), GRAPH.equals(index.format()));
        if (!base.sha256().equals(m.sourceSha256()))
            throw new BadInputException("adapter artifact " + dir + ": base model " + m.sourceModel() + " has sha256 " + base.sha256()
                    + ", the adapters were trained on " + m.sourceSha256());
        byte[] blob = files.get(BLOB);
        Object rank = m.config().get("rank"), alpha = m.config().get("alpha");
        if (!(rank instanceof Number r) || !(alpha instanceof Number a))
            throw new BadInputException("adapter artifact " + dir + ": the manifest has no rank/alpha");
        if (GRAPH.equals(index.format())) return loadGraph(dir, m, base, index, blob, r.intValue(), a.doubleValue(), storedBytes);
        TreeSet<Integer> layers = new TreeSet<>();
        for (PackedModel.TensorEntry t : index.tensors()) if (t.param().equals("A")) layers.add(t.layer());
        MultiLayerNetwork adapted = Lora.attach(base.net(), layers, r.intValue(), a.doubleValue(), 0);
        for (PackedModel.TensorEntry t : index.tensors()) {
            byte[] part = java.util.Arrays.copyOfRange(blob, (int) t.offset(), (int) (t.offset() + t.length()));
            INDArray target = t.layer() < adapted.getnLayers() ? adapted.getLayer(t.layer()).paramTable().get(t.param()) : null;
            if (target == null || !java.util.Arrays.equals(target.shape(), t.shape()))
                throw new BadInputException("adapter artifact " + dir + ": tensor " + t.layer() + "_" + t.param() + " does not fit base model " + m.sourceModel());
            target.assign(Nd4j.create(t.encoding().decode(part, (int) target.length()).values(), t.shape(), 'c'));
        }
        return new LoadedModel(Lora.merge(adapted), base.meta(), m.sourceSha256(), dir.toString(), SourceKind.ARTIFACT, storedBytes);
    }

    /** A graph base with its adapters (and trained state) by vertex name, merged. */
    private static LoadedModel loadGraph(Path dir, Manifest m, LoadedModel base, PackedModel.Index index, byte[] blob, int rank, double alpha, long storedBytes) {
        if (!base.isGraph()) throw new BadInputException("adapter artifact " + dir + " holds a graph's adapters; base model " + m.sourceModel() + " is a layer stack");
        TreeSet<String> vertices = new TreeSet<>();
        for (PackedModel.TensorEntry t : index.tensors()) if (t.param().equals("A")) vertices.add(t.vertex());
        ComputationGraph adapted = Lora.attach(base.graph(), vertices, rank, alpha, 0, new org.nd4j.linalg.learning.config.Sgd(0));
        for (PackedModel.TensorEntry t : index.tensors()) {
            byte[] part = java.util.Arrays.copyOfRange(blob, (int) t.offset(), (int) (t.offset() + t.length()));
            INDArray target = adapted.getConfiguration().getVertices().containsKey(t.vertex()) ? adapted.getLayer(t.vertex()).getParam(t.param()) : null;
            if (target == null || !java.util.Arrays.equals(target.shape(), t.shape()))
                throw new BadInputException("adapter artifact " + dir + ": tensor " + t.vertex() + "_" + t.param() + " does not fit base model " + m.sourceModel());
            target.assign(Nd4j.create(Encoding.F32_DEFLATE.decode(part, (int) target.length()).values(), t.shape(), 'c'));
        }
        return new LoadedModel(null, base.meta(), m.sourceSha256(), dir.toString(), SourceKind.ARTIFACT, storedBytes, Map.of(), Lora.merge(adapted));
    }
}
