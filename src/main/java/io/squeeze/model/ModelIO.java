package io.squeeze.model;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.modelimport.keras.KerasModelImport;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.apache.hadoop.fs.Path;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Locale;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * DL4J model serialization, in one place: reading DL4J zips and Keras {@code .h5} files from any Hadoop
 * filesystem, and writing DL4J zips that carry Squeeze's {@link ModelMeta} as an extra {@code squeeze.json} entry.
 * Every way a model file can be wrong becomes a {@link BadInputException} naming the file.
 */
public final class ModelIO {
    public static final String META_ENTRY = "squeeze.json";
    /** A quantized graph's integer form beside its float graph (written and read by {@code artifact.QuantizedGraphZip}). */
    public static final String QUANT_ENTRY = "squeeze-quant.bin";

    private ModelIO() {}

    /** Loads a DL4J zip or a Keras .h5 (not an artifact directory: see {@code artifact.Models}) as a layer stack. */
    public static LoadedModel loadFile(Storage st, Path p) {
        return loadFile(st, p, false);
    }

    /**
     * As above; with {@code graphs} a branching graph (a ComputationGraph zip or Keras functional model with merges) loads
     * as one ({@link LoadedModel#graph}), otherwise it is refused naming its merges and forks. A chain is a layer stack.
     */
    public static LoadedModel loadFile(Storage st, Path p, boolean graphs) {
        return fromFile(st.readAll(p, "model"), p, graphs);
    }

    /** As above, from the bytes of the file at {@code p} (read once by a caller that looked into them first). */
    public static LoadedModel fromFile(byte[] bytes, Path p, boolean graphs) {
        String name = p.getName().toLowerCase(Locale.ROOT);
        if (bytes.length == 0) throw new BadInputException("model " + p + " is empty (0 bytes)");
        if (name.endsWith(".h5") || name.endsWith(".hdf5") || name.endsWith(".keras")) return keras(bytes, p.toString(), graphs);
        return fromZip(bytes, p.toString(), SourceKind.DL4J_ZIP, graphs);
    }

    /** Reads a DL4J zip (with or without squeeze.json) as a layer stack. */
    public static LoadedModel fromZip(byte[] bytes, String source, SourceKind kind) {
        return fromZip(bytes, source, kind, false);
    }

    /** As above; with {@code graphs} a branching graph loads as one. */
    public static LoadedModel fromZip(byte[] bytes, String source, SourceKind kind, boolean graphs) {
        return fromZip(bytes, source, kind, graphs, false);
    }

    /**
     * As above; a zip holding a quantized graph ({@link #QUANT_ENTRY}) is refused unless {@code quantized}: its float
     * graph is what was quantized, and a command reading it as a float model would silently drop the quantization.
     */
    public static LoadedModel fromZip(byte[] bytes, String source, SourceKind kind, boolean graphs, boolean quantized) {
        if (bytes.length < 4 || bytes[0] != 'P' || bytes[1] != 'K')
            throw new BadInputException("model " + source + " is not a DL4J model zip (no zip signature); is it corrupt?");
        String confJson = null;
        byte[] metaJson = null;
        try (ZipInputStream zin = new ZipInputStream(new ByteArrayInputStream(bytes))) {
            for (ZipEntry e; (e = zin.getNextEntry()) != null; ) {
                if (e.getName().equals("configuration.json")) confJson = new String(zin.readAllBytes(), StandardCharsets.UTF_8);
                else if (e.getName().equals(META_ENTRY)) metaJson = zin.readAllBytes();
                else if (e.getName().equals(QUANT_ENTRY) && !quantized)
                    throw new BadInputException("model " + source + " is a quantized graph: this command reads float weights and would drop"
                            + " its quantization; give it the float graph that was quantized (evaluate, predict and inspect run the quantized one)");
            }
        } catch (IOException | IllegalArgumentException e) {
            throw new BadInputException("model " + source + " is corrupt or truncated (" + e.getMessage() + ")");
        }
        checkConfiguration(confJson, source);
        MultiLayerNetwork net;
        try {
            if (isGraph(confJson)) {
                var g = ModelSerializer.restoreComputationGraph(new ByteArrayInputStream(bytes), false);
                if (graphs && !GraphChain.isChain(g.getConfiguration())) {
                    ModelMeta meta = metaJson != null ? Json.read(metaJson, ModelMeta.class) : Graphs.deriveMeta(g.getConfiguration(), "model " + source);
                    return Graphs.loaded(g, meta, Storage.sha256(bytes), source, kind, bytes.length);
                }
                net = GraphChain.toMultiLayer(g, source);
            } else {
                net = ModelSerializer.restoreMultiLayerNetwork(new ByteArrayInputStream(bytes), false);
            }
        } catch (BadInputException e) {
            throw e;
        } catch (Exception e) {
            throw new BadInputException("model " + source + " is corrupt or truncated (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")");
        }
        ModelMeta meta = metaJson != null ? Json.read(metaJson, ModelMeta.class) : deriveMeta(net, source);
        return checked(net, meta, Storage.sha256(bytes), source, kind, bytes.length);
    }

    /**
     * Whether the model file {@code p} is a branching graph (the commands that take one run it as a graph): a zip's
     * configuration read alone (its first entry in a DL4J zip), a Keras file's {@code model_config} (not imported:
     * the command imports it once); false for anything else.
     */
    public static boolean isBranchingGraph(Storage st, Path p) {
        if (!st.exists(p) || st.isDirectory(p)) return false;
        String name = p.getName().toLowerCase(Locale.ROOT);
        if (name.endsWith(".h5") || name.endsWith(".hdf5") || name.endsWith(".keras")) return kerasBranches(st.readAll(p, "model"), p.toString());
        try (ZipInputStream zin = new ZipInputStream(st.open(p, "model"))) {
            for (ZipEntry e; (e = zin.getNextEntry()) != null; ) {
                if (!e.getName().equals("configuration.json")) continue;
                String conf = new String(zin.readAllBytes(), StandardCharsets.UTF_8);
                return isGraph(conf) && !GraphChain.isChain(org.deeplearning4j.nn.conf.ComputationGraphConfiguration.fromJson(conf));
            }
        } catch (IOException | RuntimeException e) {
            return false; // not a readable zip: the command's own load says why
        }
        return false;
    }

    /** Refuses a zip without {@code configuration.json}. */
    static void checkConfiguration(String confJson, String source) {
        if (confJson == null) throw new BadInputException("model " + source + " is not a DL4J model zip (no configuration.json); is it truncated?");
    }

    /** Whether a zip's configuration is a ComputationGraph's (read as a layer stack by {@link GraphChain} when it is a chain). */
    public static boolean isGraph(String confJson) {
        return confJson.contains("\"vertices\"");
    }

    private static final byte[] HDF5_SIGNATURE = {(byte) 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

    /** Whether {@code b} is an HDF5 file: its signature at offset 0 or, after a user block, at 512, 1024, 2048, … */
    static boolean isHdf5(byte[] b) {
        for (long at = 0; at + HDF5_SIGNATURE.length <= b.length; at = at == 0 ? 512 : at * 2)
            if (java.util.Arrays.equals(b, (int) at, (int) at + HDF5_SIGNATURE.length, HDF5_SIGNATURE, 0, HDF5_SIGNATURE.length)) return true;
        return false;
    }

    private static LoadedModel keras(byte[] bytes, String source, boolean graphs) {
        // checked here: the HDF5 library prints a page of diagnostics on stderr before failing on a non-HDF5 file
        if (!isHdf5(bytes)) throw new BadInputException("model " + source + " is not a Keras .h5 file (no HDF5 signature); is it corrupt?");
        File tmp = null;
        try {
            tmp = File.createTempFile("squeeze-keras-", ".h5");
            Files.write(tmp.toPath(), bytes);
            MultiLayerNetwork net;
            com.fasterxml.jackson.databind.JsonNode modelConfig = kerasModelConfig(tmp, source);
            String cls = modelConfig.path("class_name").asText();
            boolean functional = cls.equals("Model") || cls.equals("Functional");
            try {
                if (functional) {
                    var g = KerasModelImport.importKerasModelAndWeights(tmp.getPath(), false);
                    if (graphs && !GraphChain.isChain(g.getConfiguration())) {
                        if (KerasChannelsFirst.needed(g.getConfiguration())) g = KerasChannelsFirst.convert(g, kerasInputShape(modelConfig), KerasChannelsFirst.concatAxes(modelConfig), source);
                        g = Graphs.softmaxDenseAsOutput(Graphs.flatBatchNorm(g));
                        String sha = Storage.sha256(bytes);
                        Graphs.seed(g.getConfiguration(), seed(sha)); // the seed from the content, as for a stack
                        return Graphs.loaded(g, Graphs.deriveMeta(g.getConfiguration(), "model " + source), sha, source, SourceKind.KERAS_H5, bytes.length);
                    }
                    net = GraphChain.toMultiLayer(g, source);
                } else {
                    net = KerasModelImport.importKerasSequentialModelAndWeights(tmp.getPath(), false);
                }
            } catch (BadInputException e) {
                throw e;
            } catch (Exception e) {
                throw new BadInputException("model " + source + " could not be imported as a Keras " + (functional ? "functional" : "Sequential")
                        + " model (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")");
            }
            if (KerasChannelsFirst.needed(net.getLayerWiseConfigurations())) net = KerasChannelsFirst.convert(net, kerasInputShape(modelConfig), source);
            if (KerasRecurrent.needed(net.getLayerWiseConfigurations())) net = KerasRecurrent.convert(net, kerasInputShape(modelConfig), source);
            net = softmaxDenseAsOutput(flatBatchNorm(net));
            String sha = Storage.sha256(bytes);
            seedFromContent(net, sha);
            return checked(net, deriveMeta(net, source), sha, source, SourceKind.KERAS_H5, bytes.length);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            if (tmp != null && !tmp.delete()) tmp.deleteOnExit();
        }
    }

    /**
     * Replaces the seed DL4J's Keras importer gives every layer configuration (the clock at import time) by one taken
     * from the file's SHA-256: an artifact made from the same .h5 is then the same bytes on every run and on every
     * JVM (the configuration is stored). The seed only draws random numbers (dropout); the weights are the file's.
     */
    static void seedFromContent(MultiLayerNetwork net, String sha256) {
        for (var c : net.getLayerWiseConfigurations().getConfs()) c.setSeed(seed(sha256));
    }

    private static long seed(String sha256) {
        return Long.parseUnsignedLong(sha256.substring(0, 15), 16);
    }

    /**
     * {@code net} with every batch normalization on flat (dense) inputs marked NCHW. DL4J's Keras importer marks a
     * Keras {@code BatchNormalization} (axis −1) NHWC even after a Dense layer; DL4J's own code ignores the format on
     * 2-d inputs, but its oneDNN helper then normalizes the wrong axis of the [N, C, 1, 1] view, fails ("wrong shape of
     * mean array") on every forward pass, prints that from native code and falls back.
     */
    static MultiLayerNetwork flatBatchNorm(MultiLayerNetwork net) {
        var conf = net.getLayerWiseConfigurations().clone();
        boolean changed = false;
        for (int i = 1; i < conf.getConfs().size(); i++) {
            if (!(conf.getConf(i).getLayer() instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization bn)
                    || bn.getCnn2DFormat() != org.deeplearning4j.nn.conf.CNN2DFormat.NHWC || conf.getInputPreProcess(i) != null) continue;
            int k = i - 1;
            while (k > 0 && (conf.getConf(k).getLayer() instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization
                    || conf.getConf(k).getLayer() instanceof org.deeplearning4j.nn.conf.layers.ActivationLayer
                    || conf.getConf(k).getLayer() instanceof org.deeplearning4j.nn.conf.layers.DropoutLayer) && conf.getInputPreProcess(k) == null) k--;
            if (conf.getConf(k).getLayer().getClass() == org.deeplearning4j.nn.conf.layers.DenseLayer.class) {
                bn.setCnn2DFormat(org.deeplearning4j.nn.conf.CNN2DFormat.NCHW);
                changed = true;
            }
        }
        if (!changed) return net;
        MultiLayerNetwork out = new MultiLayerNetwork(conf);
        out.init(net.params().dup(), false);
        return out;
    }

    /** A Keras .h5's {@code model_config} (class {@code Sequential}, or {@code Model} / {@code Functional} for the functional API). */
    /**
     * Whether a Keras file's functional model branches: several inputs or outputs, a layer with several inbound
     * tensors (a merge) or one read by several layers (a fork) — what {@link GraphChain#isChain} finds after import.
     */
    static boolean kerasBranches(byte[] bytes, String source) {
        if (!isHdf5(bytes)) return false; // the command's own load says why
        File tmp = null;
        try {
            tmp = File.createTempFile("squeeze-keras-", ".h5");
            Files.write(tmp.toPath(), bytes);
            var cfg = kerasModelConfig(tmp, source);
            String cls = cfg.path("class_name").asText();
            if (!cls.equals("Model") && !cls.equals("Functional")) return false;
            var c = cfg.path("config");
            if (c.path("input_layers").size() > 1 || c.path("output_layers").size() > 1) return true;
            Map<String, Integer> readers = new java.util.HashMap<>();
            for (var layer : c.path("layers")) {
                int inputs = 0;
                for (var node : layer.path("inbound_nodes")) {
                    inputs += node.size();
                    for (var in : node) readers.merge(in.path(0).asText(), 1, Integer::sum);
                }
                if (inputs > 1) return true;
            }
            return readers.values().stream().anyMatch(n -> n > 1);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (BadInputException e) {
            return false; // no readable config: the command's own load says why
        } finally {
            if (tmp != null) tmp.delete();
        }
    }

    private static com.fasterxml.jackson.databind.JsonNode kerasModelConfig(File h5, String source) {
        try (var archive = new org.deeplearning4j.nn.modelimport.keras.Hdf5Archive(h5.getPath())) {
            return Json.MAPPER.readTree(archive.readAttributeAsJson("model_config"));
        } catch (Exception e) {
            throw new BadInputException("model " + source + " has no readable Keras model_config (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")");
        }
    }

    /**
     * The input shape a Keras model_config declares, without the batch dimension: the first layer's
     * {@code batch_input_shape} (Sequential; its config is a list of layers in Keras 2.0) or the input layer's
     * (functional); null when there is none.
     */
    static int[] kerasInputShape(com.fasterxml.jackson.databind.JsonNode modelConfig) {
        var config = modelConfig.path("config");
        var layers = config.isArray() ? config : config.path("layers");
        for (var l : layers) {
            var shape = l.path("config").path("batch_input_shape");
            if (shape.isArray() && shape.size() > 1) {
                int[] out = new int[shape.size() - 1];
                for (int i = 1; i < shape.size(); i++) out[i - 1] = shape.get(i).asInt(-1);
                return java.util.Arrays.stream(out).allMatch(d -> d > 0) ? out : null;
            }
        }
        return null;
    }

    private static LoadedModel checked(MultiLayerNetwork net, ModelMeta meta, String sha, String source, SourceKind kind, long bytes) {
        LayerSupport.check(net, source);
        LayerSupport.checkFinite(net, source);
        return new LoadedModel(net, meta, sha, source, kind, bytes);
    }

    /**
     * Keras models imported without their training configuration end in a plain softmax Dense layer; this makes it
     * the equivalent DL4J OutputLayer (cross-entropy loss, same parameters, same outputs).
     */
    static MultiLayerNetwork softmaxDenseAsOutput(MultiLayerNetwork net) {
        MultiLayerConfiguration c = net.getLayerWiseConfigurations().clone();
        var last = c.getConf(c.getConfs().size() - 1);
        if (!(last.getLayer() instanceof org.deeplearning4j.nn.conf.layers.DenseLayer d)
                || !(d.getActivationFn() instanceof org.nd4j.linalg.activations.impl.ActivationSoftmax)) return net;
        last.setLayer(Graphs.outputLayerOf(d));
        MultiLayerNetwork out = new MultiLayerNetwork(c);
        out.init(net.params().dup(), false);
        return out;
    }

    /** Input width and classes read off the network itself, for models Squeeze did not write. */
    static ModelMeta deriveMeta(MultiLayerNetwork net, String source) {
        return deriveMeta(net.getLayerWiseConfigurations(), source);
    }

    /** Input width and classes read off a configuration. */
    static ModelMeta deriveMeta(MultiLayerConfiguration c, String source) {
        InputPreProcessor pre = c.getInputPreProcess(0);
        int nf;
        int[] shape = null;
        if (pre instanceof FeedForwardToCnnPreProcessor f) {
            nf = (int) (f.getInputHeight() * f.getInputWidth() * f.getNumChannels());
            shape = new int[]{(int) f.getInputHeight(), (int) f.getInputWidth(), (int) f.getNumChannels()};
        } else if (pre instanceof HwcRows r) {
            shape = new int[]{r.height(), r.width(), r.channels()};
            nf = shape[0] * shape[1] * shape[2];
        } else if (pre instanceof SequenceRows r) {
            nf = r.steps() * r.features();
        } else if (c.getConf(0).getLayer() instanceof FeedForwardLayer ff) {
            nf = (int) ff.getNIn();
        } else {
            throw new BadInputException("model " + source + ": cannot tell its input size (first layer "
                    + c.getConf(0).getLayer().getClass().getSimpleName() + " without a flat-input preprocessor)");
        }
        var last = (FeedForwardLayer) c.getConf(c.getConfs().size() - 1).getLayer();
        return new ModelMeta(nf, (int) last.getNOut(), shape, null, "");
    }

    /** A DL4J zip (no updater state) with {@code squeeze.json} added. */
    public static byte[] toZip(org.deeplearning4j.nn.api.Model net, ModelMeta meta) {
        return toZip(net, meta, Map.of());
    }

    /** As above, with {@code extra} entries after {@code squeeze.json}, in their order. */
    public static byte[] toZip(org.deeplearning4j.nn.api.Model net, ModelMeta meta, Map<String, byte[]> extra) {
        try {
            ByteArrayOutputStream dl4j = new ByteArrayOutputStream();
            ModelSerializer.writeModel(net, dl4j, false);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (ZipInputStream zin = new ZipInputStream(new ByteArrayInputStream(dl4j.toByteArray()));
                 ZipOutputStream zout = new ZipOutputStream(out)) {
                for (ZipEntry e; (e = zin.getNextEntry()) != null; ) {
                    if (e.getName().equals(META_ENTRY)) continue;
                    zout.putNextEntry(entry(e.getName()));
                    zin.transferTo(zout);
                    zout.closeEntry();
                }
                zout.putNextEntry(entry(META_ENTRY));
                zout.write(Json.bytes(meta));
                zout.closeEntry();
                for (Map.Entry<String, byte[]> x : extra.entrySet()) {
                    zout.putNextEntry(entry(x.getKey()));
                    zout.write(x.getValue());
                    zout.closeEntry();
                }
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The bytes of entry {@code name} of the zip {@code bytes}, or null when it has none (or is not a zip). */
    public static byte[] zipEntry(byte[] bytes, String name) {
        try (ZipInputStream zin = new ZipInputStream(new ByteArrayInputStream(bytes))) {
            for (ZipEntry e; (e = zin.getNextEntry()) != null; ) if (e.getName().equals(name)) return zin.readAllBytes();
            return null;
        } catch (IOException | IllegalArgumentException e) {
            return null;
        }
    }

    /** A zip entry with a fixed time (2000-01-01 00:00, local), so the same model is the same bytes on every run. */
    static ZipEntry entry(String name) {
        ZipEntry e = new ZipEntry(name);
        e.setTimeLocal(java.time.LocalDateTime.of(2000, 1, 1, 0, 0));
        return e;
    }

    /** Writes a model zip atomically (temporary file, then rename); refuses to replace a file unless asked. */
    public static void writeZip(Storage st, Path out, org.deeplearning4j.nn.api.Model net, ModelMeta meta, boolean overwrite) {
        st.replace(out, toZip(net, meta), overwrite);
    }
}
