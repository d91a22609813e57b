package io.squeeze.artifact;

import io.squeeze.core.TensorKey;
import io.squeeze.core.BadInputException;
import io.squeeze.model.Json;
import io.squeeze.model.ModelMeta;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import io.squeeze.core.Mask;
import io.squeeze.model.GraphOps;
import io.squeeze.model.NetOps;
import io.squeeze.quantize.QuantPlan;
import io.squeeze.quantize.QuantizedModel;
import io.squeeze.quantize.QuantizedTensor;
import java.util.function.Function;

/**
 * The {@code packed/} form of an artifact: {@code config.json.gz} (DL4J configuration, gzip), {@code meta.json}
 * ({@link ModelMeta}), {@code tensors.json} (an index) and {@code tensors.bin} (every parameter tensor, each
 * encoded with its {@link Encoding}, concatenated) — of a layer stack or of a branching graph (its configuration a
 * {@code ComputationGraphConfiguration}, its tensors named by vertex). A float tensor with at most 256 distinct values is stored
 * codebook-and-Huffman coded when that is smaller than DEFLATE. Decoding restores exactly the same weights.
 */
public final class PackedModel {
    public static final String CONFIG = "packed/config.json.gz", META = "packed/meta.json",
            INDEX = "packed/tensors.json", BLOB = "packed/tensors.bin", QUANT = "packed/quant.json";

    private PackedModel() {}

    /**
     * One tensor's place in {@code tensors.bin}: {@code layer} is its layer's place in the network's layers (a graph's
     * in DL4J's topological order), {@code vertex} a graph layer's vertex name (its stable id; absent for a stack).
     */
    public record TensorEntry(int layer, String param, long[] shape, Encoding encoding, long offset, long length,
                              @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL) String vertex) {
        public TensorEntry(int layer, String param, long[] shape, Encoding encoding, long offset, long length) {
            this(layer, param, shape, encoding, offset, length, null);
        }

        long count() {
            long n = 1;
            for (long s : shape) n *= s;
            return n;
        }

        String id() {
            return (vertex != null ? vertex : String.valueOf(layer)) + "_" + param;
        }
    }

    /** The index file: {@link #STACK} or {@link #GRAPH} format, version 1. */
    public record Index(String format, int version, List<TensorEntry> tensors) {}

    /** The index formats: a layer stack's ({@code MultiLayerConfiguration}) and a graph's ({@code ComputationGraphConfiguration}). */
    public static final String STACK = "squeeze-packed", GRAPH = "squeeze-packed-graph";

    /** Encoded files by relative path, plus encoded bytes per layer. */
    public record Encoded(Map<String, byte[]> files, long[] bytesPerLayer) {}

    /**
     * Encodes every tensor: quantized weights (when {@code quant} is given) as integers or fp16 with their qparams,
     * those with a mask (pruned) sparse, the others dense; with {@code quant}, {@code packed/quant.json} holds its
     * {@link QuantPlan}.
     */
    public static Encoded encode(MultiLayerNetwork net, ModelMeta meta, Map<TensorKey, Mask> masks, QuantizedModel quant) {
        Map<TensorKey, QuantizedTensor> q = new LinkedHashMap<>();
        if (quant != null) for (int i = 0; i < net.getLayers().length; i++) for (var e : quant.tensorsOf(i).entrySet()) q.put(new TensorKey(i, e.getKey()), e.getValue());
        return encode(net.getLayers(), null, STACK, net.getLayerWiseConfigurations().toJson(), meta, masks, q, quant);
    }

    /**
     * A branching graph, as above: each layer's tensors under its vertex name; a quantized graph's integer weights are
     * its nodes' ({@link GraphOps}), which must be the layers' own {@code W} — the graph's batch normalizations folded
     * into their convolutions before quantizing ({@code GraphBatchNormFold}), else it is refused.
     */
    public static Encoded encode(ComputationGraph g, ModelMeta meta, Map<TensorKey, Mask> masks, QuantizedModel quant) {
        Layer[] layers = g.getLayers();
        Map<String, Integer> layerOf = layerOf(layers);
        Map<TensorKey, QuantizedTensor> q = new LinkedHashMap<>();
        if (quant != null) {
            GraphOps nodes = GraphOps.of(g, "the quantized runtime");
            if (nodes.nodes().size() != quant.ops().size())
                throw new IllegalArgumentException("the quantized model has " + quant.ops().size() + " nodes, the graph " + nodes.nodes().size());
            quant.weights().forEach((node, t) -> {
                GraphOps.Node n = nodes.nodes().get(node);
                if (!n.absorbed().stream().allMatch(v -> g.getConfiguration().getVertices().get(v) instanceof org.deeplearning4j.nn.conf.graph.LayerVertex lv
                        && lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.ActivationLayer))
                    throw new IllegalArgumentException("node " + n.name() + " absorbs " + n.absorbed() + ": fold the batch normalizations into the graph before writing it quantized");
                q.put(new TensorKey(layerOf.get(n.name()), "W"), t);
            });
        }
        return encode(layers, layerOf, GRAPH, g.getConfiguration().toJson(), meta, masks, q, quant);
    }

    private static Encoded encode(Layer[] layers, Map<String, Integer> vertices, String format, String config, ModelMeta meta,
                                  Map<TensorKey, Mask> masks, Map<TensorKey, QuantizedTensor> quantized, QuantizedModel quant) {
        ByteArrayOutputStream blob = new ByteArrayOutputStream();
        List<TensorEntry> entries = new ArrayList<>();
        long[] perLayer = new long[layers.length];
        for (int i = 0; i < layers.length; i++) {
            String vertex = vertices == null ? null : layers[i].conf().getLayer().getLayerName();
            for (Map.Entry<String, INDArray> e : layers[i].paramTable().entrySet()) {
                Mask mask = masks.get(new TensorKey(i, e.getKey()));
                Encoding enc = mask == null ? Encoding.F32_DEFLATE : Encoding.SPARSE_F32_DEFLATE;
                INDArray a = e.getValue();
                QuantizedTensor q = quantized.get(new TensorKey(i, e.getKey()));
                byte[] bytes;
                if (q != null) {
                    if (!java.util.Arrays.equals(q.shape(), a.shape()))
                        throw new IllegalArgumentException("quantized weights of layer " + i + " have shape " + java.util.Arrays.toString(q.shape()));
                    Map.Entry<Encoding, byte[]> qe = Encoding.encodeQuantized(q, mask);
                    enc = qe.getKey();
                    bytes = qe.getValue();
                } else {
                    float[] values = a.dup('c').data().asFloat();
                    bytes = enc.encode(values, mask);
                    byte[] coded = CodebookCoding.encode(values, mask, a.rank() > 1 ? a.size(0) : 1); // weight-shared (or tiny) tensors: smaller when entropy-coded
                    if (coded != null && coded.length < bytes.length) {
                        enc = mask == null ? Encoding.CODEBOOK_HUFFMAN : Encoding.SPARSE_CODEBOOK_HUFFMAN;
                        bytes = coded;
                    }
                }
                entries.add(new TensorEntry(i, e.getKey(), a.shape(), enc, blob.size(), bytes.length, vertex));
                blob.writeBytes(bytes);
                perLayer[i] += bytes.length;
            }
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put(CONFIG, gzip(config.getBytes(StandardCharsets.UTF_8)));
        files.put(META, Json.compact(meta));
        files.put(INDEX, Json.compact(new Index(format, 1, entries)));
        files.put(BLOB, blob.toByteArray());
        if (quant != null) files.put(QUANT, Json.compact(quant.plan()));
        return new Encoded(files, perLayer);
    }

    /** Each layer's place in {@code layers} by its name (a graph's layers are named by their vertices). */
    private static Map<String, Integer> layerOf(Layer[] layers) {
        Map<String, Integer> out = new java.util.HashMap<>();
        for (int i = 0; i < layers.length; i++) out.put(layers[i].conf().getLayer().getLayerName(), i);
        return out;
    }

    /** Rebuilds the network from the packed files ({@code read} returns a file's bytes by relative path). */
    public static Decoded decode(Function<String, byte[]> read, java.util.function.Predicate<String> hasQuant, String source) {
        Index index = Json.read(read.apply(INDEX), Index.class);
        boolean graph = GRAPH.equals(index.format());
        if (!graph && !STACK.equals(index.format()) || index.version() != 1)
            throw new BadInputException("artifact " + source + ": " + INDEX + " is format " + index.format() + " version " + index.version()
                    + "; this Squeeze reads " + STACK + " and " + GRAPH + " version 1");
        MultiLayerNetwork net = null;
        ComputationGraph g = null;
        try {
            String conf = new String(gunzip(read.apply(CONFIG)), StandardCharsets.UTF_8);
            if (graph) {
                g = new ComputationGraph(ComputationGraphConfiguration.fromJson(conf));
                g.init();
            } else {
                net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(conf));
                net.init();
            }
        } catch (RuntimeException e) {
            throw new BadInputException("artifact " + source + ": " + CONFIG + " is not a valid DL4J configuration (" + e.getMessage() + ")");
        }
        Layer[] layers = graph ? g.getLayers() : net.getLayers();
        Map<String, Integer> layerOf = graph ? layerOf(layers) : Map.of();
        ModelMeta meta = Json.read(read.apply(META), ModelMeta.class);
        byte[] blob = read.apply(BLOB);
        int restored = 0;
        Map<TensorKey, Mask> masks = new LinkedHashMap<>();
        Map<TensorKey, QuantizedTensor> quantizedTensors = new LinkedHashMap<>();
        Map<Integer, String> storage = new LinkedHashMap<>();
        for (TensorEntry t : index.tensors()) {
            Integer layer = graph ? layerOf.get(t.vertex()) : Integer.valueOf(t.layer());
            if (layer == null || layer < 0 || layer >= layers.length)
                throw new BadInputException("artifact " + source + ": tensor " + t.id() + " names no layer of the configuration");
            if (t.offset() < 0 || t.offset() + t.length() > blob.length)
                throw new BadInputException("artifact " + source + ": tensor " + t.id() + " lies outside " + BLOB);
            byte[] part = java.util.Arrays.copyOfRange(blob, (int) t.offset(), (int) (t.offset() + t.length()));
            Encoding.Tensor dec;
            try {
                QuantizedTensor qt = null;
                if (t.encoding().quantized()) {
                    Encoding.Quantized q = Encoding.decodeQuantized(t.encoding(), part, (int) t.count());
                    qt = q.tensor();
                    quantizedTensors.put(new TensorKey(layer, t.param()), qt);
                    dec = new Encoding.Tensor(qt.dequantize(), q.mask());
                } else {
                    dec = t.encoding().decode(part, (int) t.count());
                }
                // a layer's first weight tensor names its storage (W; a factored LSTM's WA or W)
                if (t.param().equals("W") || t.param().equals("WA") && !storage.containsKey(layer)) storage.put(layer, describe(t.encoding(), part, qt));
            } catch (IllegalStateException e) {
                throw new BadInputException("artifact " + source + ": tensor " + t.id() + " cannot be decoded (" + e.getMessage() + ")");
            }
            float[] v = dec.values();
            if (dec.mask() != null) masks.put(new TensorKey(layer, t.param()), dec.mask());
            INDArray target = layers[layer].paramTable().get(t.param());
            if (target == null || !java.util.Arrays.equals(target.shape(), t.shape()))
                throw new BadInputException("artifact " + source + ": tensor " + t.id() + " does not fit the configuration");
            target.assign(Nd4j.create(v, t.shape(), 'c'));
            restored++;
        }
        long params = graph ? g.paramTable().size() : net.paramTable().size();
        if (restored != params)
            throw new BadInputException("artifact " + source + ": " + INDEX + " lists " + restored + " tensors, the network has " + params);
        QuantizedModel quant = null;
        if (!quantizedTensors.isEmpty() || hasQuant.test(QUANT)) {
            QuantPlan plan;
            try {
                plan = Json.read(read.apply(QUANT), QuantPlan.class);
            } catch (RuntimeException e) {
                throw new BadInputException("artifact " + source + ": " + QUANT + " is missing or not valid (" + e.getMessage() + ")");
            }
            quant = graph ? graphQuant(g, plan, quantizedTensors, layers, source) : new QuantizedModel(NetOps.of(net), plan, QuantizedModel.byLayer(quantizedTensors));
        }
        return new Decoded(net, meta, masks, quant, storage, g);
    }

    /** A graph's quantized form: its nodes, each quantized node's integers under its vertex's {@code W}. */
    private static QuantizedModel graphQuant(ComputationGraph g, QuantPlan plan, Map<TensorKey, QuantizedTensor> tensors, Layer[] layers, String source) {
        GraphOps nodes = GraphOps.of(g, "the quantized runtime");
        Map<String, Integer> nodeOf = new java.util.HashMap<>();
        for (int i = 0; i < nodes.nodes().size(); i++) nodeOf.put(nodes.nodes().get(i).name(), i);
        Map<Integer, QuantizedTensor> weights = new LinkedHashMap<>();
        tensors.forEach((k, q) -> {
            Integer node = nodeOf.get(layers[k.layer()].conf().getLayer().getLayerName());
            if (node == null || !k.param().equals("W"))
                throw new BadInputException("artifact " + source + ": quantized tensor " + layers[k.layer()].conf().getLayer().getLayerName() + "_" + k.param() + " is no node's weights");
            weights.put(node, q);
        });
        return new QuantizedModel(nodes.ops(), plan, weights, nodes.wiring());
    }

    /**
     * How a weight tensor is stored, for {@code inspect}: e.g. {@code fp32}, {@code fp32, sparse},
     * {@code codebook 64 (6 bits), huffman, sparse}, {@code int8 huffman}; {@code q} is its decoded quantized form.
     */
    private static String describe(Encoding e, byte[] part, QuantizedTensor q) {
        String sparse = e.name().startsWith("SPARSE_") ? ", sparse" : "";
        return switch (e) {
            case F32_DEFLATE, SPARSE_F32_DEFLATE -> "fp32" + sparse;
            case CODEBOOK_HUFFMAN, SPARSE_CODEBOOK_HUFFMAN -> {
                int k = CodebookCoding.codebookSize(part);
                yield "codebook " + k + " (" + Math.max(1, 32 - Integer.numberOfLeadingZeros(k - 1)) + " bits), huffman" + sparse;
            }
            case QUANTIZED_DEFLATE, SPARSE_QUANTIZED_DEFLATE, QUANTIZED_HUFFMAN, SPARSE_QUANTIZED_HUFFMAN ->
                    q.format().name().toLowerCase(java.util.Locale.ROOT) + (e.name().endsWith("HUFFMAN") ? " huffman" : " deflate") + sparse;
        };
    }

    static byte[] gzip(byte[] raw) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream gz = new java.util.zip.GZIPOutputStream(out)) {
            gz.write(raw);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    static byte[] gunzip(byte[] packed) {
        try (java.util.zip.GZIPInputStream in = new java.util.zip.GZIPInputStream(new java.io.ByteArrayInputStream(packed))) {
            return in.readAllBytes();
        } catch (java.io.IOException e) {
            throw new IllegalStateException(CONFIG + " is not gzip: " + e.getMessage(), e);
        }
    }

    /**
     * A decoded network (a layer stack {@code net}, or a branching {@code graph}, the other null), its metadata, masks
     * (a graph's by its layers' places in {@code getLayers()}), quantized form, and how each layer's weights are stored.
     */
    public record Decoded(MultiLayerNetwork net, ModelMeta meta, Map<TensorKey, Mask> masks, QuantizedModel quant, Map<Integer, String> storage,
                          ComputationGraph graph) {}
}
