package io.squeeze.artifact;

import io.squeeze.core.FaultPoint;
import io.squeeze.core.Mask;
import io.squeeze.core.Storage;
import io.squeeze.core.TensorKey;
import io.squeeze.model.Json;
import io.squeeze.model.ModelZipStream;
import io.squeeze.model.ParamLayout;
import org.apache.hadoop.fs.Path;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes the artifact of a masked DL4J zip while reading the source once, one layer's tensors at a time, so the
 * writer never holds more than one layer's weights: {@code packed/tensors.bin} (and {@code model.zip} beside it when
 * asked for) is written as the source's {@code coefficients.bin} streams past, each tensor masked, encoded and checksummed on the way.
 * The files are the bytes {@link ArtifactWriter#write} produces for the same network and masks (tested), published the
 * same way: atomically where the filesystem renames atomically, {@code _SUCCESS} last.
 */
public final class ArtifactStream {
    private ArtifactStream() {}

    /**
     * Writes the artifact of {@code source} (a DL4J zip with header {@code h}) with {@code masks} applied.
     *
     * @param notes per layer index; layers not listed are recorded as {@link ArtifactWriter.LayerNote#NONE}
     */
    public static Manifest write(Storage st, String uri, boolean overwrite, Path source, ModelZipStream.Header h, ParamLayout layout,
                                 Map<TensorKey, Mask> masks, Map<Integer, ArtifactWriter.LayerNote> notes,
                                 ArtifactWriter.Provenance p, Map<String, Object> metrics, boolean dl4jZip) {
        Path out = ArtifactWriter.checkTarget(st, uri, overwrite);
        Manifest[] done = new Manifest[1];
        st.publish(out, overwrite, dir -> {
            Map<String, Manifest.FileRecord> records = new LinkedHashMap<>();
            if (dl4jZip) records.put(ArtifactWriter.MODEL_ZIP, null);
            for (String name : List.of(PackedModel.CONFIG, PackedModel.META, PackedModel.INDEX, PackedModel.BLOB))
                records.put(name, null); // the order ArtifactWriter lists them in
            List<Manifest.LayerRecord> layers = writeFiles(st, dir, source, h, layout, masks, notes, records, dl4jZip);
            FaultPoint.reach(FaultPoint.MID_WRITE);
            Manifest m = ArtifactWriter.manifest(Manifest.STACK_FORMAT, records, p, layers, metrics);
            ArtifactWriter.finish(st, dir, m);
            done[0] = m;
        });
        return done[0];
    }

    private static List<Manifest.LayerRecord> writeFiles(Storage st, Path dir, Path source, ModelZipStream.Header h, ParamLayout layout,
                                                         Map<TensorKey, Mask> masks, Map<Integer, ArtifactWriter.LayerNote> notes,
                                                         Map<String, Manifest.FileRecord> records, boolean dl4jZip) {
        int nLayers = h.conf().getConfs().size();
        long[] params = new long[nLayers], nonzeros = new long[nLayers], packed = new long[nLayers];
        List<PackedModel.TensorEntry> entries = new ArrayList<>();
        List<ParamLayout.Slice> flat = layout.inFlatOrder();
        try (Recorded zip = dl4jZip ? new Recorded(st, new Path(dir, ArtifactWriter.MODEL_ZIP), records, ArtifactWriter.MODEL_ZIP) : null;
             Recorded blob = new Recorded(st, new Path(dir, PackedModel.BLOB), records, PackedModel.BLOB);
             ModelZipStream.Coefficients in = ModelZipStream.Coefficients.open(st, source, h.prefix().length)) {
            try (ModelZipStream.Writer w = dl4jZip ? new ModelZipStream.Writer(zip, h.conf(), h.meta(), h.prefix(), h.count()) : null) {
                for (int at = 0; at < flat.size(); ) {
                    int layer = flat.get(at).layer();
                    Map<ParamLayout.Slice, float[]> values = new LinkedHashMap<>(); // this layer's tensors, C order, masked
                    for (; at < flat.size() && flat.get(at).layer() == layer; at++) {
                        ParamLayout.Slice s = flat.get(at);
                        float[] c = s.toC(in.next(s.length()));
                        Mask mk = masks.get(new TensorKey(layer, s.param()));
                        io.squeeze.model.LayerSupport.checkFinite(c, layer, s.param(), source.toString());
                        if (mk != null) mk.apply(c);
                        for (float x : c) if (x != 0f) nonzeros[layer]++;
                        params[layer] += c.length;
                        if (w != null) w.write(s.fromC(c));
                        values.put(s, c);
                    }
                    List<ParamLayout.Slice> table = new ArrayList<>(values.keySet());
                    table.sort(java.util.Comparator.comparingInt(ParamLayout.Slice::position));
                    for (ParamLayout.Slice s : table) {
                        Mask mk = masks.get(new TensorKey(layer, s.param()));
                        Encoding enc = mk == null ? Encoding.F32_DEFLATE : Encoding.SPARSE_F32_DEFLATE;
                        byte[] bytes = enc.encode(values.get(s), mk);
                        entries.add(new PackedModel.TensorEntry(layer, s.param(), s.shape(), enc, blob.count, bytes.length));
                        blob.write(bytes);
                        packed[layer] += bytes.length;
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir + ": " + e.getMessage(), e);
        }
        small(st, dir, PackedModel.CONFIG, PackedModel.gzip(h.conf().toJson().getBytes(StandardCharsets.UTF_8)), records);
        small(st, dir, PackedModel.META, Json.compact(h.meta()), records);
        small(st, dir, PackedModel.INDEX, Json.compact(new PackedModel.Index("squeeze-packed", 1, entries)), records);
        List<Manifest.LayerRecord> layers = new ArrayList<>();
        for (int i = 0; i < nLayers; i++) {
            var conf = h.conf().getConf(i).getLayer();
            ArtifactWriter.LayerNote n = notes.getOrDefault(i, ArtifactWriter.LayerNote.NONE);
            double sparsity = params[i] == 0 ? 0 : 1.0 - (double) nonzeros[i] / params[i];
            layers.add(new Manifest.LayerRecord(i, conf.getLayerName(), conf.getClass().getSimpleName(), n.method(), params[i],
                    nonzeros[i], sparsity, params[i] * 4, packed[i], n.details()));
        }
        return layers;
    }

    private static void small(Storage st, Path dir, String name, byte[] bytes, Map<String, Manifest.FileRecord> records) {
        Path p = new Path(dir, name);
        st.mkdirs(p.getParent());
        st.write(p, bytes);
        records.put(name, new Manifest.FileRecord(bytes.length, Storage.sha256(bytes)));
    }

    /** A file being written whose size and sha256 go into {@code records} when it is closed. */
    private static final class Recorded extends FilterOutputStream {
        private final MessageDigest sha;
        private final Map<String, Manifest.FileRecord> records;
        private final String name;
        long count;

        Recorded(Storage st, Path p, Map<String, Manifest.FileRecord> records, String name) {
            super(open(st, p));
            try {
                this.sha = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
            this.records = records;
            this.name = name;
        }

        private static OutputStream open(Storage st, Path p) {
            st.mkdirs(p.getParent());
            return new java.io.BufferedOutputStream(st.create(p), 1 << 16);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            sha.update((byte) b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            sha.update(b, off, len);
            count += len;
        }

        @Override
        public void close() throws IOException {
            super.close();
            records.put(name, new Manifest.FileRecord(count, HexFormat.of().formatHex(sha.digest())));
        }
    }
}
