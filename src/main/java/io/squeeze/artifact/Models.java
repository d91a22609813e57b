package io.squeeze.artifact;

import io.squeeze.core.Storage;
import io.squeeze.core.BadInputException;
import io.squeeze.distill.Teacher;
import io.squeeze.distill.Teachers;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelIO;
import org.apache.hadoop.fs.Path;

/** Resolves a model path as the CLI accepts it: an artifact directory (of a stack or a graph), a DL4J zip or a Keras .h5. */
public final class Models {
    private Models() {}

    /** A layer stack (a branching graph is refused naming its merges). */
    public static LoadedModel load(Storage st, String uri) {
        return load(st, uri, false);
    }

    /** As above; with {@code graphs} a branching graph loads as one ({@link LoadedModel#graph}). */
    public static LoadedModel load(Storage st, String uri, boolean graphs) {
        if (uri == null || uri.isBlank()) throw new BadInputException("--model must be given");
        Path p = st.path(uri);
        if (!st.exists(p)) throw new BadInputException("model " + p + " does not exist");
        if (st.isDirectory(p)) return stackUnless(graphs, Artifact.load(st, uri).model());
        return ModelIO.loadFile(st, p, graphs);
    }

    /** {@code m}, or unless {@code graphs} the refusal of a branching graph naming its merges and forks. */
    private static LoadedModel stackUnless(boolean graphs, LoadedModel m) {
        if (m.isGraph() && !graphs) io.squeeze.model.GraphChain.toMultiLayer(m.graph(), m.source()); // refuses it
        return m;
    }

    /**
     * Whether the model at {@code p} is a branching graph (the commands that take one run it as a graph): an artifact
     * directory whose {@code packed/} holds a graph (or whose adapters go on one), or a model file as {@link ModelIO#isBranchingGraph} reads it.
     */
    public static boolean isGraph(Storage st, Path p) {
        if (!st.exists(p)) return false;
        if (!st.isDirectory(p)) return ModelIO.isBranchingGraph(st, p);
        Path index = new Path(p, PackedModel.INDEX), adapters = new Path(p, AdapterArtifact.INDEX);
        try {
            if (!st.exists(index) && st.exists(adapters)) return AdapterArtifact.onGraph(st.readAll(adapters, "adapter index"));
            return st.exists(index) && PackedModel.GRAPH.equals(io.squeeze.model.Json.read(st.readAll(index, "artifact index"), PackedModel.Index.class).format());
        } catch (RuntimeException e) {
            return false; // not a readable artifact: the command's own load says why
        }
    }

    /** As {@link #load}, with the quantized form of a quantized artifact (for runtimes and evaluation). */
    public static Loaded loadRunnable(Storage st, String uri) {
        return loadRunnable(st, uri, false);
    }

    /** As above; with {@code graphs} a branching graph loads as one. */
    public static Loaded loadRunnable(Storage st, String uri, boolean graphs) {
        if (uri != null && !uri.isBlank()) {
            Path p = st.path(uri);
            if (st.exists(p) && st.isDirectory(p)) {
                Artifact a = Artifact.load(st, uri);
                stackUnless(graphs, a.model());
                return a.loaded();
            }
            if (graphs && st.exists(p)) { // the file read once: looked into for a quantized graph, else read as a model
                byte[] bytes = st.readAll(p, "model");
                Loaded q = QuantizedGraphZip.fromBytes(bytes, p);
                return q != null ? q : Loaded.plain(ModelIO.fromFile(bytes, p, true));
            }
        }
        return Loaded.plain(load(st, uri, graphs));
    }

    /**
     * The float model of {@code l}, refusing a quantized artifact: a command that reads float weights and writes
     * floats (prune, factorize, quantize again) would silently drop the quantization.
     */
    public static LoadedModel requireFloat(Loaded l, String command, String model) {
        if (l.quant() != null)
            throw new BadInputException(command + " takes a float model; " + model + " is quantized (" + l.quant().plan().mode().name().toLowerCase(java.util.Locale.ROOT)
                    + "): it would read the dequantized weights and write floats; " + (command.equals("quantize") ? "quantize the float model instead" : command + " the float model, then quantize"));
        return l.model();
    }

    /**
     * The float model at {@code uri} for {@code command} (a graph loads as one), refusing a quantized one as
     * {@link #requireFloat} does; {@code what} names it ("model M", "student S").
     */
    public static LoadedModel loadFloat(Storage st, String uri, String command, String what) {
        return requireFloat(loadRunnable(st, uri, true), command, what);
    }

    /** A teacher from a path: {@code .onnx} files through ONNX Runtime, anything else as {@link #load} reads it. */
    public static Teacher teacher(Storage st, String path, String inputName, String outputName) {
        if (path.toLowerCase(java.util.Locale.ROOT).endsWith(".onnx")) return Teachers.onnx(st, path, inputName, outputName);
        if (inputName != null || outputName != null)
            throw new BadInputException("--onnx-input/--onnx-output apply to ONNX teachers only; " + path + " is not a .onnx file");
        return Teachers.of(load(st, path, true));
    }
}
