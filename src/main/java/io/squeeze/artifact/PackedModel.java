package io.squeeze.artifact;

import io.squeeze.core.TensorKey;
import io.squeeze.core.BadInputException;
import io.squeeze.model.Json;
import io.squeeze.model.ModelMeta;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
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
import io.squeeze.model.NetOps;
import io.squeeze.quantize.QuantPlan;
import io.squeeze.quantize.QuantizedModel;
import io.squeeze.quantize.QuantizedTensor;
import java.util.function.Function;

/**
 * The {@code packed/} form of an artifact: {@code config.json.gz} (DL4J configuration, gzip), {@code meta.json}
 * ({@link ModelMeta}), {@code tensors.json} (an index) and {@code tensors.bin} (every parameter tensor, each
 * encoded with its {@link Encoding}, concatenated). A float tensor with at most 256 distinct values is stored
 * codebook-and-Huffman coded when that is smaller than DEFLATE. Decoding restores exactly the same weights.
 */
public final class PackedModel {
    public static final String CONFIG = "packed/config.json.gz", META = "packed/meta.json",
            INDEX = "packed/tensors.json", BLOB = "packed/tensors.bin", QUANT = "packed/quant.json";

    private PackedModel() {}

    /** One tensor's place in {@code tensors.bin}. */
    public record TensorEntry(int layer, String param, long[] shape, Encoding encoding, long offset, long length) {
        long count() {
            long n = 1;
            for (long s : shape) n *= s;
            return n;
        }
    }

    /** The index file. */
    public record Index(String format, int version, List<TensorEntry> tensors) {}

    /** Encoded files by relative path, plus encoded bytes per layer. */
    public record Encoded(Map<String, byte[]> files, long[] bytesPerLayer) {}

    /**
     * Encodes every tensor: quantized weights (when {@code quant} is given) as integers or fp16 with their qparams,
     * those with a mask (pruned) sparse, the others dense; with {@code quant}, {@code packed/quant.json} holds its
     * {@link QuantPlan}.
     */
    public static Encoded encode(MultiLayerNetwork net, ModelMeta meta, Map<TensorKey, Mask> masks, QuantizedModel quant) {
        ByteArrayOutputStream blob = new ByteArrayOutputStream();
        List<TensorEntry> entries = new ArrayList<>();
        Layer[] layers = net.getLayers();
        long[] perLayer = new long[layers.length];
        for (int i = 0; i < layers.length; i++) {
            for (Map.Entry<String, INDArray> e : layers[i].paramTable().entrySet()) {
                Mask mask = masks.get(new TensorKey(i, e.getKey()));
                Encoding enc = mask == null ? Encoding.F32_DEFLATE : Encoding.SPARSE_F32_DEFLATE;
                INDArray a = e.getValue();
                QuantizedTensor q = quant == null ? null : quant.tensorsOf(i).get(e.getKey());
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
                entries.add(new TensorEntry(i, e.getKey(), a.shape(), enc, blob.size(), bytes.length));
                blob.writeBytes(bytes);
                perLayer[i] += bytes.length;
            }
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put(CONFIG, gzip(net.getLayerWiseConfigurations().toJson().getBytes(StandardCharsets.UTF_8)));
        files.put(META, Json.compact(meta));
        files.put(INDEX, Json.compact(new Index("squeeze-packed", 1, entries)));
        files.put(BLOB, blob.toByteArray());
        if (quant != null) files.put(QUANT, Json.compact(quant.plan()));
        return new Encoded(files, perLayer);
    }

    /** Rebuilds the network from the packed files ({@code read} returns a file's bytes by relative path). */
    public static Decoded decode(Function<String, byte[]> read, java.util.function.Predicate<String> hasQuant, String source) {
        MultiLayerNetwork net;
        try {
            net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(new String(gunzip(read.apply(CONFIG)), StandardCharsets.UTF_8)));
            net.init();
        } catch (RuntimeException e) {
            throw new BadInputException("artifact " + source + ": " + CONFIG + " is not a valid DL4J configuration (" + e.getMessage() + ")");
        }
        ModelMeta meta = Json.read(read.apply(META), ModelMeta.class);
        Index index = Json.read(read.apply(INDEX), Index.class);
        byte[] blob = read.apply(BLOB);
        int restored = 0;
        Map<TensorKey, Mask> masks = new LinkedHashMap<>();
        Map<TensorKey, QuantizedTensor> quantizedTensors = new LinkedHashMap<>();
        Map<Integer, String> storage = new LinkedHashMap<>();
        for (TensorEntry t : index.tensors()) {
            if (t.offset() < 0 || t.offset() + t.length() > blob.length)
                throw new BadInputException("artifact " + source + ": tensor " + t.layer() + "_" + t.param() + " lies outside " + BLOB);
            byte[] part = java.util.Arrays.copyOfRange(blob, (int) t.offset(), (int) (t.offset() + t.length()));
            Encoding.Tensor dec;
            try {
                QuantizedTensor qt = null;
                if (t.encoding().quantized()) {
                    Encoding.Quantized q = Encoding.decodeQuantized(t.encoding(), part, (int) t.count());
                    qt = q.tensor();
                    quantizedTensors.put(new TensorKey(t.layer(), t.param()), qt);
                    dec = new Encoding.Tensor(qt.dequantize(), q.mask());
                } else {
                    dec = t.encoding().decode(part, (int) t.count());
                }
                // a layer's first weight tensor names its storage (W; a factored LSTM's WA or W)
                if (t.param().equals("W") || t.param().equals("WA") && !storage.containsKey(t.layer())) storage.put(t.layer(), describe(t.encoding(), part, qt));
            } catch (IllegalStateException e) {
                throw new BadInputException("artifact " + source + ": tensor " + t.layer() + "_" + t.param() + " cannot be decoded (" + e.getMessage() + ")");
            }
            float[] v = dec.values();
            if (dec.mask() != null) masks.put(new TensorKey(t.layer(), t.param()), dec.mask());
            INDArray target = net.getLayer(t.layer()).getParam(t.param());
            if (target == null || !java.util.Arrays.equals(target.shape(), t.shape()))
                throw new BadInputException("artifact " + source + ": tensor " + t.layer() + "_" + t.param() + " does not fit the configuration");
            target.assign(Nd4j.create(v, t.shape(), 'c'));
            restored++;
        }
        if (restored != net.paramTable().size())
            throw new BadInputException("artifact " + source + ": " + INDEX + " lists " + restored + " tensors, the network has " + net.paramTable().size());
        Map<Integer, QuantizedTensor> quantized = QuantizedModel.byLayer(quantizedTensors);
        QuantizedModel quant = null;
        if (!quantized.isEmpty() || hasQuant.test(QUANT)) {
            QuantPlan plan;
            try {
                plan = Json.read(read.apply(QUANT), QuantPlan.class);
            } catch (RuntimeException e) {
                throw new BadInputException("artifact " + source + ": " + QUANT + " is missing or not valid (" + e.getMessage() + ")");
            }
            quant = new QuantizedModel(NetOps.of(net), plan, quantized);
        }
        return new Decoded(net, meta, masks, quant, storage);
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

    /** A decoded network, its metadata, masks, quantized form, and how each layer's weights are stored (by layer). */
    public record Decoded(MultiLayerNetwork net, ModelMeta meta, Map<TensorKey, Mask> masks, QuantizedModel quant, Map<Integer, String> storage) {}
}
