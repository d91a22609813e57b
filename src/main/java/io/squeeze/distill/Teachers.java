package io.squeeze.distill;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.NetPayload;

import java.util.Arrays;
import java.util.Map;
import java.util.UUID;

/** Makes teachers: a loaded model, or an {@code .onnx} file through ONNX Runtime (names and shapes checked). */
public final class Teachers {
    private Teachers() {}

    public static Teacher of(LoadedModel m) {
        return new Teacher.Dl4j(NetPayload.of(m), m.meta().normalizer(), m.meta().numFeatures(), m.meta().numClasses(),
                m.source(), m.sha256(), m.kind().name().toLowerCase(java.util.Locale.ROOT));
    }

    /** An ONNX teacher, its input and output chosen by name (or the only one) and their shapes checked. */
    public static Teacher onnx(Storage st, String path, String inputName, String outputName) {
        var p = st.path(path);
        if (!st.exists(p)) throw new BadInputException("teacher " + p + " does not exist");
        byte[] model = st.readAll(p, "ONNX teacher");
        try (OrtSession s = Teacher.Onnx.session(model)) {
            String in = pick(s.getInputInfo(), inputName, "input", p.toString());
            String out = pick(s.getOutputInfo(), outputName, "output", p.toString());
            long[] inShape = shape(s.getInputInfo().get(in), "input", in, p.toString());
            long[] outShape = shape(s.getOutputInfo().get(out), "output", out, p.toString());
            long features = 1;
            for (int i = 1; i < inShape.length; i++) {
                if (inShape[i] <= 0) throw new BadInputException("ONNX teacher " + p + ": input '" + in + "' has a dynamic dimension "
                        + i + " " + Arrays.toString(inShape) + "; only the batch dimension may be dynamic");
                features *= inShape[i];
            }
            if (inShape.length < 2) throw new BadInputException("ONNX teacher " + p + ": input '" + in + "' has shape " + Arrays.toString(inShape) + ", expected [batch, ...]");
            if (outShape.length != 2 || outShape[1] <= 0)
                throw new BadInputException("ONNX teacher " + p + ": output '" + out + "' has shape " + Arrays.toString(outShape) + ", expected [batch, classes]");
            return new Teacher.Onnx(UUID.randomUUID().toString(), model, in, out, inShape, (int) features, (int) outShape[1], p.toString(),
                    Storage.sha256(model));
        } catch (OrtException e) {
            throw new BadInputException("teacher " + p + " is not a valid ONNX model (" + e.getMessage() + ")");
        }
    }

    private static String pick(Map<String, NodeInfo> nodes, String name, String what, String src) {
        if (name == null) {
            if (nodes.size() != 1) throw new BadInputException("ONNX teacher " + src + " has " + what + "s " + nodes.keySet() + "; choose one with --onnx-" + what);
            return nodes.keySet().iterator().next();
        }
        if (!nodes.containsKey(name))
            throw new BadInputException("ONNX teacher " + src + " has no " + what + " '" + name + "'; its " + what + "s: " + nodes.keySet());
        return name;
    }

    private static long[] shape(NodeInfo n, String what, String name, String src) {
        if (!(n.getInfo() instanceof TensorInfo t))
            throw new BadInputException("ONNX teacher " + src + ": " + what + " '" + name + "' is not a tensor");
        if (t.type != ai.onnxruntime.OnnxJavaType.FLOAT)
            throw new BadInputException("ONNX teacher " + src + ": " + what + " '" + name + "' is " + t.type + ", expected float32");
        return t.getShape();
    }
}
