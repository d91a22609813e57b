package io.squeeze.model;

import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Inference for a feed-forward DL4J network — dense and output layers, activation and dropout layers — as one
 * ND4J GEMM per layer written straight into a column-major (Fortran-order) buffer kept across batches, the bias
 * added and the layer's own DL4J activation function applied in place.
 *
 * <p>Why: DL4J 1.0.0-M2's dense layer asks for a row-major output, and ND4J then computes the GEMM column-major and
 * copies it across (measured on one core: a 256×1024 output costs 5.2 ms instead of 4.2 ms, a 128→1024 layer
 * 1.37 ms instead of 0.55 ms). That fixed per-layer cost is paid again by each of the two layers a low-rank
 * factorization makes, so it hides most of what factorization saves; here the GEMMs alone remain. Outputs equal
 * DL4J's {@code output()} to float rounding (same SGEMM, same activation code). Unstructured-pruned float layers
 * whose density is at most {@link SparseDense#MAX_DENSITY} run in {@link SparseDense} instead of SGEMM (faster there,
 * measured by {@code jobs/bench deploy}).
 *
 * <p>Networks with anything else (convolutions, preprocessors, weight noise such as fake-quantized weights,
 * layer norm, SameDiff layers such as LoRA adapters) are not taken: {@link #of} is empty and callers keep DL4J's
 * {@code output()}. One instance per thread (its buffers are reused).
 */
public final class DenseRuntime {
    /** A dense layer (w [nIn, nOut], b [1, nOut] or null; sparse: its CSC form, or null) or an activation on its own (w null). */
    private record Step(INDArray w, INDArray b, IActivation act, SparseDense sparse) {}

    private final List<Step> steps;
    private final NdRows.Buffers buffers = new NdRows.Buffers();

    private DenseRuntime(List<Step> steps) {
        this.steps = steps;
    }

    /**
     * The runtime for {@code net}, or empty when a layer is not a plain dense/output/activation/dropout layer. A float
     * layer with at most {@link SparseDense#MAX_DENSITY} non-zero weights runs in {@link SparseDense}.
     */
    public static Optional<DenseRuntime> of(MultiLayerNetwork net) {
        return of(net, true);
    }

    /** {@link #of(MultiLayerNetwork)}, with sparse layers ({@code sparseKernel} false: every layer an SGEMM). */
    public static Optional<DenseRuntime> of(MultiLayerNetwork net, boolean sparseKernel) {
        var conf = net.getLayerWiseConfigurations();
        List<Step> steps = new ArrayList<>();
        for (int i = 0; i < net.getnLayers(); i++) {
            if (conf.getInputPreProcess(i) != null) return Optional.empty();
            Layer l = net.getLayer(i).conf().getLayer();
            if (l.getClass() == DenseLayer.class || l.getClass() == OutputLayer.class) {
                BaseLayer b = (BaseLayer) l;
                if (b.getWeightNoise() != null || (l instanceof DenseLayer d && d.hasLayerNorm())) return Optional.empty();
                INDArray w = net.getLayer(i).getParam("W"), bias = net.getLayer(i).getParam("b");
                SparseDense sparse = sparseKernel && w.dataType() == DataType.FLOAT ? SparseDense.ifSparse(w, bias) : null;
                steps.add(new Step(w, bias, b.getActivationFn(), sparse));
            } else if (l.getClass() == ActivationLayer.class) {
                steps.add(new Step(null, null, ((ActivationLayer) l).getActivationFn(), null));
            } else if (l.getClass() != DropoutLayer.class) {
                return Optional.empty();
            }
        }
        return steps.stream().anyMatch(s -> s.w() != null) ? Optional.of(new DenseRuntime(steps)) : Optional.empty();
    }

    /** The network's output for {@code x} [rows, nIn]; valid until the next call on this instance. */
    public INDArray output(INDArray x) {
        return run(x, true);
    }

    /** The share of the network's multiply-adds (dense count, nIn·nOut per layer) in layers run by {@link SparseDense}. */
    public double sparseShare() {
        double all = 0, sparse = 0;
        for (Step s : steps) {
            if (s.w() == null) continue;
            all += s.w().length();
            if (s.sparse() != null) sparse += s.w().length();
        }
        return all == 0 ? 0 : sparse / all;
    }

    /** Whether the last layer is a dense/output layer, so that {@link #logits} is defined. */
    public boolean hasLogits() {
        return steps.get(steps.size() - 1).w() != null;
    }

    /** The last layer's pre-activation x·W + b (logits before a softmax); valid until the next call. */
    public INDArray logits(INDArray x) {
        if (!hasLogits()) throw new IllegalStateException("the last layer has no weights, so no logits");
        return run(x, false);
    }

    /** {@link #output(INDArray)} of {@code rows} row-major rows of {@code cols}, returned row-major. */
    public float[] output(float[] x, int rows, int cols) {
        return NdRows.toRowMajor(output(input(x, rows, cols)));
    }

    /** {@link #logits(INDArray)} of {@code rows} row-major rows of {@code cols}, returned row-major. */
    public float[] logits(float[] x, int rows, int cols) {
        return NdRows.toRowMajor(logits(input(x, rows, cols)));
    }

    /** The rows copied into a native buffer kept across batches (fresh pages cost more than the copy, see NdRows). */
    private INDArray input(float[] x, int rows, int cols) {
        return NdRows.fill(buffers.get("input", DataType.FLOAT, rows, cols, 'c'), x);
    }

    private INDArray run(INDArray x, boolean lastActivation) {
        INDArray cur = x;
        for (int i = 0; i < steps.size(); i++) {
            Step s = steps.get(i);
            if (s.w() != null) {
                if (cur.dataType() != s.w().dataType()) cur = cur.castTo(s.w().dataType());
                // one slot per layer: a layer never writes into the array it reads
                INDArray target = buffers.get("layer" + i, s.w().dataType(), x.rows(), s.w().columns(), 'f');
                if (s.sparse() != null) {
                    cur = s.sparse().multiply(cur, target); // bias included
                } else {
                    cur = cur.mmuli(s.w(), target);
                    if (s.b() != null) cur.addiRowVector(s.b());
                }
            } else if (cur == x) {
                cur = x.dup('f'); // never overwrite the caller's array
            }
            if (lastActivation || i < steps.size() - 1) cur = s.act().getActivation(cur, false);
        }
        return cur;
    }
}
