package io.squeeze.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.shape.Shape;

import java.nio.ByteOrder;
import java.nio.IntBuffer;

/**
 * ReLU (Nair and Hinton 2010) whose backward pass, {@code dL/dz = z > 0 ? ε : 0}, is a Java loop over the bits of
 * z and ε: a float z is &gt; 0 exactly when its bits b, read as a signed int, satisfy 0 &lt; b ≤ 0x7f800000 (positive,
 * finite or +∞, not NaN), so {@code ((-b) & ~b & (b - 0x7f800001)) >> 31} is an all-ones mask there and 0 elsewhere,
 * and the gradient is ε's bits ANDed with it — integer operations the JIT vectorizes, over blocks of
 * {@value #CHUNK} elements read through {@link IntBuffer} views of ND4J's memory into two blocks each thread keeps.
 * DL4J's {@link ActivationReLU} computes the same with libnd4j's {@code leakyrelu_bp} at slope 0, which applies a
 * {@code std::function} per element (2.7 ms for a LeNet-5 first-convolution output of 64×6×28×28 on one thread, docs/BENCHMARKS.md). Both
 * give ε where z &gt; 0 and +0 elsewhere, NaN and infinite ε included (tested bit for bit). Arrays not laid out
 * alike without gaps, or not float, go to DL4J's op. The forward pass, {@code z < 0 ? +0 : z} in place as libnd4j's
 * {@code RELU} scalar op computes it, is a loop on the bits too ({@link #getActivation}; tested bit for bit against
 * DL4J's and over every class of bit pattern), where DL4J's op wrapped its threshold in a new scalar array every call.
 *
 * <p>Only for training: {@link #install} puts it in place of each plain {@link ActivationReLU} (no cap, threshold or
 * slope) in the layer configurations of a network, which are the network's saved configuration too, so a network
 * that is saved or handed back has {@link #restore} called first (a saved model names only DL4J's classes).
 */
public final class StepRelu extends ActivationReLU {
    /** Elements read and written at a time. */
    static final int CHUNK = 4096;
    private transient long passes;
    /** Each thread's two blocks of {@value #CHUNK} ints, reused from call to call (a step of LeNet-300-100 made 64 kB of them). */
    private static final ThreadLocal<int[][]> SCRATCH = ThreadLocal.withInitial(() -> new int[][]{new int[CHUNK], new int[CHUNK]});

    /**
     * DL4J's ReLU forward pass, {@code z < 0 ? +0 : z} in place (libnd4j's {@code RELU} scalar op at threshold 0, so
     * −0 and NaN pass through), as a Java loop over the floats' bits ({@link #relu}); other arrays go to DL4J's op.
     * DL4J's wraps its threshold in a new scalar array every call.
     */
    @Override
    public INDArray getActivation(INDArray in, boolean training) {
        if (!dense(in)) return super.getActivation(in, training);
        IntBuffer z = ints(in);
        int n = (int) in.length(), zo = (int) in.offset();
        int[] zs = SCRATCH.get()[0];
        for (int from = 0; from < n; from += CHUNK) {
            int len = Math.min(CHUNK, n - from);
            z.get(zo + from, zs, 0, len);
            relu(zs, len);
            z.put(zo + from, zs, 0, len);
        }
        return in;
    }

    /**
     * The forward kernel on the floats' bits b: z &lt; 0 exactly when b is negative as a signed int, b ≤ 0xff800000
     * (−∞ down to the smallest negative denormal, not a NaN) and b ≠ 0x80000000 (−0); those become +0.
     */
    static void relu(int[] z, int len) {
        for (int i = 0; i < len; i++) {
            int b = z[i], x = b ^ Integer.MIN_VALUE;
            z[i] = b & ~((b & (b + 0x007fffff) & (x | -x)) >> 31); // the sign bits of: b, b + 0x7fffff (no overflow when b < 0), b ≠ −0
        }
    }

    @Override
    public Pair<INDArray, INDArray> backprop(INDArray in, INDArray epsilon) {
        if (!covers(in, epsilon)) return super.backprop(in, epsilon);
        return new Pair<>(backpropInto(in, epsilon, in.ulike()), null);
    }

    /** Whether {@link #backpropInto} takes these arrays: float, laid out alike without gaps, of the same shape. */
    static boolean covers(INDArray in, INDArray epsilon) {
        return dense(in) && dense(epsilon) && in.ordering() == epsilon.ordering() && java.util.Arrays.equals(in.shape(), epsilon.shape());
    }

    /**
     * {@link #backprop}'s gradient written into {@code out}, an array laid out as {@code in} (which may be {@code in}
     * or {@code epsilon} itself: each element is read before it is written); only for arrays {@link #covers} takes.
     */
    INDArray backpropInto(INDArray in, INDArray epsilon, INDArray out) {
        IntBuffer z = ints(in), e = ints(epsilon), o = ints(out);
        int n = (int) in.length(), zo = (int) in.offset(), eo = (int) epsilon.offset(), oo = (int) out.offset();
        int[][] scratch = SCRATCH.get();
        int[] zs = scratch[0], es = scratch[1];
        for (int from = 0; from < n; from += CHUNK) {
            int len = Math.min(CHUNK, n - from);
            z.get(zo + from, zs, 0, len);
            e.get(eo + from, es, 0, len);
            mask(zs, es, len);
            o.put(oo + from, es, 0, len);
        }
        passes++;
        return out;
    }

    /** How many backward passes ran the loop (the others went to DL4J's op). */
    long passes() {
        return passes;
    }

    /** The kernel: {@code e[i] = z[i] > 0 ? e[i] : +0} on the floats' bits, over the first {@code len} elements. */
    static void mask(int[] z, int[] e, int len) {
        for (int i = 0; i < len; i++) {
            int b = z[i];
            e[i] &= ((-b) & ~b & (b - 0x7f800001)) >> 31;
        }
    }

    /** A float array whose elements are a run of its buffer in its own order (default strides), within int range. */
    private static boolean dense(INDArray a) {
        return a.dataType() == DataType.FLOAT && Shape.hasDefaultStridesForShape(a) && a.offset() + a.length() <= a.data().length()
                && a.offset() + a.length() <= Integer.MAX_VALUE;
    }

    private static IntBuffer ints(INDArray a) {
        return a.data().asNio().order(ByteOrder.nativeOrder()).asIntBuffer();
    }

    @Override
    public String toString() {
        return "relu";
    }

    /** Puts a {@code StepRelu} in place of every plain ReLU of {@code net}'s layers; returns how many. Idempotent. */
    public static int install(Model net) {
        int n = 0;
        for (Layer l : layers(net)) {
            IActivation a = activation(l);
            if (a instanceof StepRelu) n++;
            else if (plainRelu(a)) {
                set(l, new StepRelu());
                n++;
            }
        }
        return n;
    }

    /** Puts DL4J's own {@link ActivationReLU} back wherever {@link #install} put a {@code StepRelu}. */
    public static void restore(Model net) {
        for (Layer l : layers(net))
            if (activation(l) instanceof StepRelu) set(l, new ActivationReLU());
    }

    /** Whether {@code a} is ReLU without a cap, threshold or slope: a {@code StepRelu}, or DL4J's with none of them set. */
    static boolean plainRelu(IActivation a) {
        if (a instanceof StepRelu) return true;
        if (a == null || a.getClass() != ActivationReLU.class) return false;
        ActivationReLU r = (ActivationReLU) a;
        return plain(r.getMax()) && plain(r.getThreshold()) && plain(r.getNegativeSlope());
    }

    private static boolean plain(Double d) {
        return d == null || d == 0.0;
    }

    private static Layer[] layers(Model net) {
        if (net instanceof MultiLayerNetwork m) return m.getLayers();
        if (net instanceof ComputationGraph g) return g.getLayers();
        return new Layer[0];
    }

    private static IActivation activation(Layer l) {
        var c = l.conf() == null ? null : l.conf().getLayer();
        return c instanceof BaseLayer b ? b.getActivationFn() : c instanceof ActivationLayer a ? a.getActivationFn() : null;
    }

    private static void set(Layer l, IActivation a) {
        var c = l.conf().getLayer();
        if (c instanceof BaseLayer b) b.setActivationFn(a);
        else ((ActivationLayer) c).setActivationFn(a);
    }
}
