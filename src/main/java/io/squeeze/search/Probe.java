package io.squeeze.search;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Mask;
import io.squeeze.lowrank.LayerFactors;
import io.squeeze.lowrank.SvdMethod;
import io.squeeze.prune.Amount;
import io.squeeze.prune.L1Unstructured;
import io.squeeze.prune.Pruner;
import io.squeeze.prune.Target;
import io.squeeze.quantize.QuantizedTensor;

import java.io.Serializable;
import java.util.List;
import java.util.Locale;

/**
 * One technique applied to one layer's weights at one level, for a sensitivity trial: the weights as the compressed
 * layer computes with them (same shape, C order), and the storage the level saves. Each probe uses the technique's
 * own kernel, so a trial measures exactly what the command would do to that layer (without fine-tuning).
 */
public sealed interface Probe extends Serializable permits Probe.Prune, Probe.Quantize, Probe.Factorize {

    /** A layer's weight tensor ({@code param}: DL4J's key, W, or RW for a recurrent layer's recurrent weights) as a probe sees it. */
    record Weights(int layer, long[] shape, float[] values, Mask mask, boolean conv, String param) implements Serializable {
        public Weights(int layer, long[] shape, float[] values, Mask mask, boolean conv) {
            this(layer, shape, values, mask, conv, "W");
        }

        int outAxis() {
            return conv ? 0 : 1;
        }

        public long entries() {
            return values.length;
        }
    }

    /**
     * The weight tensors of one layer, compressed together in a trial as the command compresses the layer: one for a
     * dense layer or convolution, W and RW for a recurrent layer (each at the level, as {@code prune}, {@code quantize}
     * and {@code factorize} treat the two).
     */
    record Unit(int layer, List<Weights> tensors) implements Serializable {
        public Unit {
            tensors = List.copyOf(tensors);
        }

        public long entries() {
            long n = 0;
            for (Weights w : tensors) n += w.entries();
            return n;
        }
    }

    /** The weights compressed at {@code level}. */
    float[] apply(Weights w, double level);

    /** The unit's tensors compressed at {@code level}, in order: each by {@link #apply(Weights, double)} unless a probe treats them together. */
    default float[][] apply(Unit u, double level) {
        float[][] out = new float[u.tensors().size()][];
        for (int i = 0; i < out.length; i++) out[i] = apply(u.tensors().get(i), level);
        return out;
    }

    /** Storage bits the level saves on the unit's tensors together. */
    default double bitsSaved(Unit u, double level) {
        double s = 0;
        for (Weights w : u.tensors()) s += bitsSaved(w, level);
        return s;
    }

    /** Storage bits the level saves on this tensor, against fp32 (negative when it costs more). */
    double bitsSaved(Weights w, double level);

    /** The levels a sensitivity run measures when none are given. */
    List<Double> defaultLevels();

    /** Refuses a level the technique cannot take ({@link BadInputException}). */
    void checkLevel(double level);

    String key();

    static Probe of(String technique) {
        return switch (technique.toLowerCase(Locale.ROOT)) {
            case "prune" -> new Prune();
            case "quantize" -> new Quantize();
            case "factorize" -> new Factorize();
            default -> throw new BadInputException("sensitivity --technique must be prune, quantize or factorize, got '" + technique + "'");
        };
    }

    /**
     * L1 unstructured pruning (PyTorch's {@code l1_unstructured}, Han et al. 2015's magnitude criterion): level = the
     * fraction of the remaining weights pruned, as {@code squeeze prune --method l1 --amount LEVEL}.
     */
    record Prune() implements Probe {
        @Override
        public float[] apply(Weights w, double level) {
            Target t = new Target(0, w.layer(), w.param(), w.shape(), w.values(), w.mask(), Amount.fraction(level), w.outAxis(), w.conv() ? 1 : 0);
            Mask m = Pruner.masks(List.of(t), new L1Unstructured(), Amount.fraction(level), io.squeeze.prune.Chunk.DEFAULT_SIZE).get(0);
            return m.apply(w.values().clone()); // Mask.apply zeroes in place
        }

        @Override
        public double bitsSaved(Weights w, double level) {
            return 32.0 * Amount.fraction(level).of(w.mask().keptCount(), "sensitivity level");
        }

        @Override
        public List<Double> defaultLevels() {
            return List.of(0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99);
        }

        @Override
        public void checkLevel(double level) {
            if (!(level >= 0 && level <= 1)) throw new BadInputException("prune sensitivity levels must be in [0,1], got " + level);
        }

        @Override
        public String key() {
            return "prune";
        }
    }

    /**
     * Weight quantization as {@code squeeze quantize} stores it (symmetric, per output channel; Jacob et al. 2018):
     * level = bits, 8 or 4 (integers), 16 (fp16); the weights are quantized and dequantized (fake quantization).
     */
    record Quantize() implements Probe {
        @Override
        public float[] apply(Weights w, double level) {
            return QuantizedTensor.quantize(w.values(), w.shape(), format(level), true, w.outAxis()).dequantize();
        }

        /**
         * A recurrent layer's W [nIn, gH] and RW [H, gH] as {@code quantize} stores them: one {@code [W; RW]} tensor
         * with a scale per gate column.
         */
        @Override
        public float[][] apply(Unit u, double level) {
            if (u.tensors().size() != 2) return Probe.super.apply(u, level);
            Weights w = u.tensors().get(0), rw = u.tensors().get(1);
            float[] both = io.squeeze.model.NetOps.Rnn.stack(w.values(), rw.values());
            float[] q = QuantizedTensor.quantize(both, new long[]{w.shape()[0] + rw.shape()[0], w.shape()[1]}, format(level), true, 1).dequantize();
            return new float[][]{java.util.Arrays.copyOfRange(q, 0, w.values().length), java.util.Arrays.copyOfRange(q, w.values().length, q.length)};
        }

        static QuantizedTensor.Format format(double bits) {
            if (bits == 8) return QuantizedTensor.Format.INT8;
            if (bits == 4) return QuantizedTensor.Format.INT4;
            if (bits == 16) return QuantizedTensor.Format.FP16;
            throw new BadInputException("quantize sensitivity levels are bits: 4, 8 or 16 (fp16), got " + bits);
        }

        @Override
        public double bitsSaved(Weights w, double level) {
            return (32 - level) * w.entries();
        }

        @Override
        public List<Double> defaultLevels() {
            return List.of(4.0, 8.0, 16.0);
        }

        @Override
        public void checkLevel(double level) {
            format(level);
        }

        @Override
        public String key() {
            return "quantize";
        }
    }

    /**
     * Truncated SVD (Eckart–Young; the factorization {@code squeeze factorize} writes, Denton et al. 2014): level = the
     * rank as a fraction of the full rank min(rows, cols), rounded, at least 1; the trial computes with A·B.
     */
    record Factorize() implements Probe {
        static int[] matrix(Weights w) {
            int rows = (int) w.shape()[0];
            return new int[]{rows, (int) (w.entries() / rows)};
        }

        static int rank(Weights w, double level) {
            return rank(w.shape(), level);
        }

        /** The rank {@code level} means for a weight tensor of {@code shape} (rows: its first axis). */
        public static int rank(long[] shape, double level) {
            long cols = 1;
            for (int d = 1; d < shape.length; d++) cols *= shape[d];
            return (int) Math.max(1, Math.round(level * Math.min(shape[0], cols)));
        }

        @Override
        public float[] apply(Weights w, double level) {
            int[] m = matrix(w);
            int k = rank(w, level);
            if (k >= Math.min(m[0], m[1])) return w.values().clone();
            var f = LayerFactors.factor(w.values(), m[0], m[1], k, new SvdMethod.Exact()).factors();
            float[] a = f.a(), b = f.b(), out = new float[m[0] * m[1]];
            for (int i = 0; i < m[0]; i++)
                for (int r = 0; r < k; r++) {
                    float air = a[i * k + r];
                    if (air == 0) continue;
                    for (int j = 0; j < m[1]; j++) out[i * m[1] + j] += air * b[r * m[1] + j];
                }
            return out;
        }

        @Override
        public double bitsSaved(Weights w, double level) {
            int[] m = matrix(w);
            int k = rank(w, level);
            return k >= Math.min(m[0], m[1]) ? 0 : 32.0 * ((long) m[0] * m[1] - (long) k * (m[0] + m[1]));
        }

        @Override
        public List<Double> defaultLevels() {
            return List.of(0.05, 0.1, 0.2, 0.3, 0.5, 0.7);
        }

        @Override
        public void checkLevel(double level) {
            if (!(level > 0 && level <= 1)) throw new BadInputException("factorize sensitivity levels are rank fractions in (0,1], got " + level);
        }

        @Override
        public String key() {
            return "factorize";
        }
    }
}
