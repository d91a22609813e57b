package io.squeeze.model;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;

/**
 * A convolution's forward pass computed once a training step instead of twice. DL4J's {@code ConvolutionLayer}
 * computes its pre-activation z = W ∗ x + b in the forward pass, applies the activation to it in place, and computes z
 * again in back-propagation for the activation's derivative — for LeNet-5, two of oneDNN's forward convolutions (with
 * their layout reorders) of each layer every step (docs/BENCHMARKS.md, "Where a LeNet-5 step goes"). This helper,
 * wrapped around the layer's own (oneDNN's), keeps a copy of the last z it computed together with the bits of the
 * input, weights and bias it came from; when it is asked for z again with the same input, weights and bias — compared
 * bit for bit where they lie in ND4J's memory ({@link #sameBits}), so any change in between (an update, dropout,
 * another minibatch in the same buffer) computes afresh — it returns the copy instead of running the convolution. The
 * back-propagation step of the same minibatch is that case; each copy serves one repeat. Everything else goes to the
 * layer's own helper.
 */
final class ConvForwardOnce extends WrappingConvHelper {
    private int[] x, w, b; // the bits of the input, weights and bias of the kept z
    private long[] xShape;
    private INDArray z; // kept out of DL4J's workspaces
    private boolean kept;
    private long repeats;

    ConvForwardOnce(ConvolutionHelper own) {
        super(own);
    }

    /**
     * Wraps the helper of every plain 2-D convolution layer of {@code net} (a {@link MultiLayerNetwork}) that has one;
     * returns how many layers have it. Idempotent.
     */
    static int install(org.deeplearning4j.nn.api.Model net) {
        if (!(net instanceof MultiLayerNetwork m)) return 0;
        int n = 0;
        for (var l : m.getLayers()) {
            if (l.getClass() != ConvolutionLayer.class) continue;
            ConvolutionHelper h = helper(l);
            if (h instanceof ConvForwardOnce || h instanceof InputConvGradients i && i.own() instanceof ConvForwardOnce) n++;
            else if (h != null && !(h instanceof InputConvGradients)) {
                setHelper(l, new ConvForwardOnce(h));
                n++;
            }
        }
        return n;
    }

    static ConvolutionHelper helper(org.deeplearning4j.nn.api.Layer l) {
        return Dl4jFields.get(ConvolutionLayer.class, "helper", l, ConvolutionHelper.class);
    }

    static void setHelper(org.deeplearning4j.nn.api.Layer l, ConvolutionHelper h) {
        Dl4jFields.set(ConvolutionLayer.class, "helper", l, h);
    }

    @Override
    public INDArray preOutput(INDArray input, INDArray weights, INDArray bias, int[] kernel, int[] strides, int[] pad,
                              org.deeplearning4j.nn.conf.layers.ConvolutionLayer.AlgoMode mode,
                              org.deeplearning4j.nn.conf.layers.ConvolutionLayer.FwdAlgo fwdAlgo, ConvolutionMode convolutionMode, int[] dilation,
                              CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        boolean floats = input.dataType() == DataType.FLOAT && weights.dataType() == DataType.FLOAT && (bias == null || bias.dataType() == DataType.FLOAT)
                && input.length() <= Integer.MAX_VALUE / 2;
        if (floats && kept) {
            kept = false; // one repeat per copy
            if (Arrays.equals(input.shape(), xShape) && sameBits(input, x) && sameBits(weights, w)
                    && (bias == null ? b == null : sameBits(bias, b))) {
                repeats++;
                return workspaceMgr.dup(ArrayType.ACTIVATIONS, z);
            }
        }
        INDArray out = own.preOutput(input, weights, bias, kernel, strides, pad, mode, fwdAlgo, convolutionMode, dilation, format, workspaceMgr);
        if (out == null || !floats || out.dataType() != DataType.FLOAT) return out;
        x = bits(input, x);
        xShape = input.shape();
        w = bits(weights, w);
        b = bias == null ? null : bits(bias, b);
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            if (z == null || !Arrays.equals(z.shape(), out.shape()) || z.ordering() != out.ordering())
                z = Nd4j.createUninitialized(DataType.FLOAT, out.shape(), out.ordering());
            z.assign(out);
        }
        kept = true;
        return out;
    }

    /**
     * {@code a}'s elements in c order, into {@code into} when it has their number: in one copy when they lie in one
     * run of ND4J's memory ({@link #run}), any other array copied into c order first.
     */
    static float[] read(INDArray a, float[] into) {
        int n = (int) a.length();
        float[] out = into != null && into.length == n ? into : new float[n];
        java.nio.FloatBuffer run = run(a);
        if (run != null) run.get(0, out, 0, n);
        else a.dup('c').data().asNioFloat().get(0, out, 0, n);
        return out;
    }

    /**
     * Whether {@code a}'s elements in c order equal {@code copy}'s as float values ({@code ==}, so +0 equals −0; two
     * NaNs count as equal), as {@link java.nio.FloatBuffer#mismatch} compares: in ND4J's memory without a copy when
     * they lie in one run. Not bit for bit: for comparisons whose outcome is all that matters (which window value is
     * largest).
     */
    static boolean sameValues(INDArray a, float[] copy) {
        if (copy == null || a.length() != copy.length) return false;
        java.nio.FloatBuffer run = run(a);
        return (run != null ? run : java.nio.FloatBuffer.wrap(read(a, null))).mismatch(java.nio.FloatBuffer.wrap(copy)) < 0;
    }

    /**
     * The bits of {@code a}'s float elements in c order, into {@code into} when it has their number: in one copy when
     * they lie in one run of ND4J's memory, any other array copied into c order first.
     */
    static int[] bits(INDArray a, int[] into) {
        int n = (int) a.length();
        int[] out = into != null && into.length == n ? into : new int[n];
        java.nio.IntBuffer run = intRun(a);
        (run != null ? run : ints(a.dup('c'))).get(0, out, 0, n);
        return out;
    }

    /**
     * Whether {@code a}'s float elements in c order have {@code copy}'s bits ({@link #bits}), as
     * {@link java.nio.IntBuffer#mismatch} compares them: in ND4J's memory without a copy when they lie in one run (the
     * repeat of a step compares a convolution's input where it lies instead of copying it out first). Bit for bit:
     * −0 differs from +0, and NaNs of different bits differ.
     */
    static boolean sameBits(INDArray a, int[] copy) {
        if (copy == null || a.length() != copy.length) return false;
        java.nio.IntBuffer run = intRun(a);
        return (run != null ? run : java.nio.IntBuffer.wrap(bits(a, null))).mismatch(java.nio.IntBuffer.wrap(copy)) < 0;
    }

    /** {@link #run} read as the floats' bits. */
    private static java.nio.IntBuffer intRun(INDArray a) {
        return slice(a, ints(a));
    }

    /** {@code a}'s whole buffer as ints in the machine's byte order. */
    private static java.nio.IntBuffer ints(INDArray a) {
        return a.data().asNio().order(java.nio.ByteOrder.nativeOrder()).asIntBuffer();
    }

    /**
     * {@code a}'s elements in c order as a slice of ND4J's memory when they lie there in one run (a view into a larger
     * buffer too, where {@code asNioFloat()} maps the whole buffer and {@code offset()} counts from its start), else null.
     */
    private static java.nio.FloatBuffer run(INDArray a) {
        return slice(a, a.data().asNioFloat());
    }

    /**
     * {@code a}'s elements in c order as a slice of {@code whole}, a view of its whole buffer, when they lie there in
     * one run, else null.
     */
    @SuppressWarnings("unchecked")
    private static <B extends java.nio.Buffer> B slice(INDArray a, B whole) {
        if (!cOrderContiguous(a)) return null;
        long n = a.length();
        return a.offset() + n <= whole.capacity() ? (B) whole.slice((int) a.offset(), (int) n) : null;
    }

    /** Whether {@code a}'s elements in c order lie one after the other in its buffer. */
    private static boolean cOrderContiguous(INDArray a) {
        if (a.elementWiseStride() != 1) return false;
        if (a.ordering() == 'c') return true;
        int large = 0; // an 'f' array whose elements run along one dimension only has the same order as 'c'
        for (long d : a.shape()) if (d > 1) large++;
        return large <= 1;
    }

    /** How many forward passes this helper answered from its copy. */
    long repeats() {
        return repeats;
    }

    @Override
    public boolean checkSupported() {
        return own.checkSupported();
    }
}
