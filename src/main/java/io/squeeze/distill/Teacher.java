package io.squeeze.distill;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.squeeze.data.Normalizer;
import io.squeeze.model.DenseRuntime;
import io.squeeze.model.Logits;
import io.squeeze.model.NetPayload;

import java.io.Serializable;
import java.nio.FloatBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * A teacher that labels data with logits, as it travels to executors (broadcast once) and runs there — one
 * instance per executor thread ({@link #open()}), since neither a DL4J network nor an ONNX session is shared
 * between concurrently running tasks.
 */
public sealed interface Teacher extends Serializable {
    int numFeatures();

    int numClasses();

    /** Where it came from, its sha256 and kind ({@code dl4j}, {@code keras}, {@code artifact}, {@code onnx}). */
    String source();

    String sha256();

    String kind();

    /** This thread's runner. */
    Runner open();

    /** Logits of a batch of raw rows (row-major, {@code numFeatures} each). */
    @FunctionalInterface
    interface Runner {
        float[] logits(float[] x, int rows);
    }

    /**
     * A DL4J network (a zip, a Keras import or an artifact) with its own normalization, logits before its softmax —
     * through {@link DenseRuntime} when the network is all dense layers.
     */
    record Dl4j(NetPayload payload, Normalizer normalizer, int numFeatures, int numClasses, String source, String sha256, String kind)
            implements Teacher {
        @Override
        public Runner open() {
            if (payload.isGraph()) {
                var g = payload.graph();
                return (x, rows) -> io.squeeze.model.Logits.of(g, normalizer.appliedRows(x, rows), rows, numFeatures);
            }
            var net = payload.network();
            var dense = DenseRuntime.of(net).filter(DenseRuntime::hasLogits);
            if (dense.isPresent()) {
                DenseRuntime rt = dense.get();
                return (x, rows) -> rt.logits(normalizer.appliedRows(x, rows), rows, numFeatures);
            }
            return (x, rows) -> Logits.of(net, normalizer.appliedRows(x, rows), rows, numFeatures);
        }
    }

    /**
     * An ONNX model run with ONNX Runtime (one intra-op thread per task), fed the raw features reshaped to its input
     * shape ({@code inputShape}, batch dimension first, -1 where dynamic).
     */
    record Onnx(String key, byte[] model, String input, String output, long[] inputShape, int numFeatures, int numClasses,
                String source, String sha256) implements Teacher {
        private static final ThreadLocal<Map<String, OrtSession>> SESSIONS = ThreadLocal.withInitial(HashMap::new);

        @Override
        public String kind() {
            return "onnx";
        }

        private static void close(OrtSession s) {
            try {
                s.close();
            } catch (OrtException e) {
                // the session is gone either way; nothing the job can do about a failed native release
            }
        }

        static OrtSession session(byte[] model) throws OrtException {
            OrtSession.SessionOptions o = new OrtSession.SessionOptions();
            o.setIntraOpNumThreads(1);
            o.setInterOpNumThreads(1);
            return OrtEnvironment.getEnvironment().createSession(model, o);
        }

        @Override
        public Runner open() {
            Map<String, OrtSession> mine = SESSIONS.get();
            OrtSession s = mine.get(key);
            if (s == null) {
                // a long-lived executor thread keeps the session of the teacher it runs now, not of every job before it
                for (OrtSession old : mine.values()) close(old);
                mine.clear();
                try {
                    s = session(model);
                } catch (OrtException e) {
                    throw new IllegalStateException("ONNX teacher " + source + " cannot be loaded: " + e.getMessage(), e);
                }
                mine.put(key, s);
            }
            OrtSession session = s;
            return (x, rows) -> {
                long[] shape = inputShape.clone();
                shape[0] = rows;
                try (OnnxTensor in = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), FloatBuffer.wrap(x), shape);
                     OrtSession.Result r = session.run(Map.of(input, in), Set.of(output))) {
                    FloatBuffer fb = ((OnnxTensor) r.get(0)).getFloatBuffer();
                    float[] out = new float[fb.remaining()];
                    fb.get(out);
                    if (out.length != rows * numClasses)
                        throw new IllegalStateException("ONNX teacher returned " + out.length + " values for " + rows + " rows of " + numClasses);
                    return out;
                } catch (OrtException e) {
                    throw new IllegalStateException("ONNX teacher " + source + " failed: " + e.getMessage(), e);
                }
            };
        }
    }
}
