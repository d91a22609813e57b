package io.squeeze.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Where each parameter tensor of a network lies in DL4J's flat parameter vector, read off the configuration alone
 * (no network is built and no weights are allocated beyond one layer's view at a time).
 *
 * <p>Algorithm: DL4J gives layer {@code i} the slice of the flat vector after the {@code numParams} of layers
 * {@code 0..i-1}, and its {@code ParamInitializer} carves that slice into the layer's tensors as views. Calling the
 * initializer on a scratch slice of the layer's length (without initializing values) yields each view's offset,
 * shape and ordering, exactly as {@code MultiLayerNetwork.init} would lay them out. A dense weight is an 'f'-ordered
 * view, a convolution weight a 'c'-ordered one: {@link Slice#flatIndex} maps a C-order index of the DL4J shape to the
 * position inside the slice.
 */
public final class ParamLayout implements Serializable {
    private static final long serialVersionUID = 1L;

    /**
     * One parameter tensor.
     *
     * @param layer    layer index
     * @param param    DL4J parameter key
     * @param shape    DL4J shape
     * @param fortran  whether the slice holds the tensor in 'f' order (else 'c')
     * @param offset   first position in the flat parameter vector
     * @param length   entries
     * @param position the tensor's place in its layer's parameter table (the order {@code paramTable()} lists it)
     */
    public record Slice(int layer, String param, long[] shape, boolean fortran, long offset, int length, int position)
            implements Serializable {
        /** Position in this slice of the entry at C-order index {@code c} of {@link #shape}. */
        public int flatIndex(int c) {
            if (!fortran || shape.length < 2) return c;
            int rest = c, f = 0, stride = 1;
            int[] idx = new int[shape.length];
            for (int d = shape.length - 1; d >= 0; d--) {
                idx[d] = (int) (rest % shape[d]);
                rest /= (int) shape[d];
            }
            for (int d = 0; d < shape.length; d++) {
                f += idx[d] * stride;
                stride *= (int) shape[d];
            }
            return f;
        }

        /** The slice's values (in slice order) as C order of {@link #shape}. */
        public float[] toC(float[] slice) {
            if (!fortran || shape.length < 2) return slice;
            float[] c = new float[slice.length];
            for (int i = 0; i < c.length; i++) c[i] = slice[flatIndex(i)];
            return c;
        }

        /** C-order values back in slice order. */
        public float[] fromC(float[] c) {
            if (!fortran || shape.length < 2) return c;
            float[] s = new float[c.length];
            for (int i = 0; i < c.length; i++) s[flatIndex(i)] = c[i];
            return s;
        }
    }

    private final List<Slice> slices;
    private final long total;

    private ParamLayout(List<Slice> slices, long total) {
        this.slices = List.copyOf(slices);
        this.total = total;
    }

    /** The layout of {@code conf}'s parameters (its data type must be FLOAT). */
    public static ParamLayout of(MultiLayerConfiguration conf) {
        List<Slice> out = new ArrayList<>();
        long at = 0;
        for (int i = 0; i < conf.getConfs().size(); i++) {
            NeuralNetConfiguration lc = conf.getConf(i);
            var init = lc.getLayer().initializer();
            long n = init.numParams(lc);
            if (n == 0) continue;
            if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("layer " + i + " has more than 2^31 parameters");
            try (INDArray scratch = Nd4j.createUninitialized(DataType.FLOAT, 1, n)) {
                Map<String, INDArray> views = init.init(lc.clone(), scratch, false);
                int position = 0;
                for (Map.Entry<String, INDArray> e : views.entrySet()) {
                    INDArray v = e.getValue();
                    long off = v.offset() - scratch.offset();
                    out.add(new Slice(i, e.getKey(), v.shape(), v.ordering() == 'f' && v.rank() >= 2, at + off, (int) v.length(), position++));
                }
            }
            at += n;
        }
        return new ParamLayout(out, at);
    }

    /** Every tensor, in the order of the flat parameter vector. */
    public List<Slice> inFlatOrder() {
        List<Slice> s = new ArrayList<>(slices);
        s.sort(Comparator.comparingLong(Slice::offset));
        return s;
    }

    /** Every tensor, layer by layer in each layer's {@code paramTable()} order (the order artifacts index them). */
    public List<Slice> inTableOrder() {
        List<Slice> s = new ArrayList<>(slices);
        s.sort(Comparator.comparingInt(Slice::layer).thenComparingInt(Slice::position));
        return s;
    }

    /** Entries in the flat vector. */
    public long total() {
        return total;
    }

    /** Whether the slices tile the flat vector without gaps or overlaps. */
    public boolean contiguous() {
        long at = 0;
        for (Slice s : inFlatOrder()) {
            if (s.offset() != at) return false;
            at += s.length();
        }
        return at == total;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (Slice s : inFlatOrder())
            sb.append(s.layer()).append('_').append(s.param()).append(Arrays.toString(s.shape())).append(s.fortran() ? "f" : "c")
                    .append('@').append(s.offset()).append(' ');
        return sb.toString().trim();
    }
}
