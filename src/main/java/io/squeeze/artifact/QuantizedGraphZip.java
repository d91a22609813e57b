package io.squeeze.artifact;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.model.GraphOps;
import io.squeeze.model.Json;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelIO;
import io.squeeze.model.SourceKind;
import io.squeeze.quantize.QuantPlan;
import io.squeeze.quantize.QuantizedModel;
import io.squeeze.quantize.QuantizedTensor;
import org.apache.hadoop.fs.Path;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A quantized graph as one file: the DL4J zip of the float graph that was quantized, with {@link ModelIO#QUANT_ENTRY}
 * beside it holding what the integer runtime adds — the {@link QuantPlan} (precisions, activation qparams keyed by node),
 * the node names it was planned on, the job's record and metrics, and each quantized tensor of the batch-normalization-
 * folded weights ({@link QuantizedTensor#toBytes}). The nodes are rebuilt from the graph on reading ({@link GraphOps},
 * deterministic) and must carry the recorded names and tensor shapes, else the file is refused as damaged.
 * <p>
 * Layout (version 1), big-endian: magic {@code SQGQ}, a version byte, the JSON header's length (int) and UTF-8 bytes,
 * the tensor count (int), then per tensor its node index (int), length (int) and bytes.
 */
public final class QuantizedGraphZip {
    private static final byte[] MAGIC = {'S', 'Q', 'G', 'Q'};
    private static final int VERSION = 1;

    private QuantizedGraphZip() {}

    /** What the entry's JSON header holds. */
    public record Header(int formatVersion, String sourceSha256, List<String> nodes, QuantPlan plan, List<String> command,
                         Map<String, Object> config, Map<String, Object> metrics) {}

    /** The zip of {@code src}'s graph with the quantized form {@code qm} of its nodes {@code g}. */
    public static byte[] zip(LoadedModel src, GraphOps g, QuantizedModel qm, List<String> command, Map<String, Object> config, Map<String, Object> metrics) {
        Header h = new Header(VERSION, src.sha256(), g.nodes().stream().map(GraphOps.Node::name).toList(), qm.plan(), command, config, metrics);
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.write(MAGIC);
            out.writeByte(VERSION);
            byte[] json = Json.bytes(h);
            out.writeInt(json.length);
            out.write(json);
            out.writeInt(qm.weights().size());
            for (Map.Entry<Integer, QuantizedTensor> e : qm.weights().entrySet()) {
                byte[] t = e.getValue().toBytes();
                out.writeInt(e.getKey());
                out.writeInt(t.length);
                out.write(t);
            }
            out.flush();
            Map<String, byte[]> extra = new LinkedHashMap<>();
            extra.put(ModelIO.QUANT_ENTRY, bytes.toByteArray());
            return ModelIO.toZip(src.graph(), src.meta(), extra);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The model at {@code p} if it is a zip holding a quantized graph, else null. */
    public static Loaded read(Storage st, Path p) {
        if (!p.getName().toLowerCase(java.util.Locale.ROOT).endsWith(".zip")) return null;
        return fromBytes(st.readAll(p, "model"), p);
    }

    /** As above, from the bytes of the file at {@code p}. */
    public static Loaded fromBytes(byte[] bytes, Path p) {
        if (!p.getName().toLowerCase(java.util.Locale.ROOT).endsWith(".zip")) return null;
        byte[] entry = ModelIO.zipEntry(bytes, ModelIO.QUANT_ENTRY);
        if (entry == null) return null;
        LoadedModel m = ModelIO.fromZip(bytes, p.toString(), SourceKind.DL4J_ZIP, true, true);
        if (!m.isGraph()) throw new BadInputException("model " + p + " holds " + ModelIO.QUANT_ENTRY + " but is not a branching graph");
        return new Loaded(m, decode(entry, GraphOps.of(m.graph(), "the quantized runtime"), p.toString()));
    }

    static QuantizedModel decode(byte[] entry, GraphOps g, String source) {
        try {
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(entry));
            Header h = read(in, source);
            List<String> names = g.nodes().stream().map(GraphOps.Node::name).toList();
            if (!names.equals(h.nodes())) throw damaged(source, "its nodes " + names + " are not those it was quantized on " + h.nodes());
            int n = in.readInt();
            Map<Integer, QuantizedTensor> weights = new LinkedHashMap<>();
            for (int i = 0; i < n; i++) {
                int node = in.readInt();
                byte[] t = new byte[in.readInt()];
                in.readFully(t);
                QuantizedTensor q = QuantizedTensor.fromBytes(t);
                long[] shape = node >= 0 && node < g.nodes().size() ? QuantizedModel.shape(g.nodes().get(node).op()) : null;
                if (!java.util.Arrays.equals(shape, q.shape()))
                    throw damaged(source, "node " + node + "'s tensor has shape " + java.util.Arrays.toString(q.shape()) + ", the graph's " + java.util.Arrays.toString(shape));
                weights.put(node, q);
            }
            return new QuantizedModel(g.ops(), h.plan(), weights, g.wiring());
        } catch (IOException | RuntimeException e) {
            if (e instanceof BadInputException b) throw b;
            throw damaged(source, e.getMessage());
        }
    }

    private static Header read(DataInputStream in, String source) throws IOException {
        byte[] magic = new byte[4];
        in.readFully(magic);
        if (!java.util.Arrays.equals(magic, MAGIC)) throw damaged(source, "no SQGQ signature");
        int v = in.readUnsignedByte();
        if (v != VERSION) throw new BadInputException("model " + source + ": quantized graph format version " + v + " is not supported (this Squeeze reads " + VERSION + ")");
        byte[] json = new byte[in.readInt()];
        in.readFully(json);
        return Json.read(json, Header.class);
    }

    private static BadInputException damaged(String source, String why) {
        return new BadInputException("model " + source + ": its " + ModelIO.QUANT_ENTRY + " is damaged (" + why + ")");
    }
}
