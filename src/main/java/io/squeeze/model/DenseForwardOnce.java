package io.squeeze.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.params.DefaultParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A ReLU dense layer whose training step multiplies by its weights only where back-propagation (Rumelhart, Hinton and
 * Williams 1986) needs it. DL4J's {@code BaseLayer.backpropGradient} computes the layer's pre-activation
 * {@code z = x·W + b} a second time (the forward pass already did), and for a network's first layer also the input's
 * gradient {@code δ·Wᵀ}, which {@link MultiLayerNetwork} then drops; PyTorch's autograd does neither (it keeps what the forward pass computed, and
 * its input does not require a gradient). For LeNet-300-100 on minibatches of 64 the first layer's four products of
 * 64·784·300 multiply-adds become two and the second's four of 64·300·100 three: a step's ≈ 68 M multiply-adds
 * become ≈ 36 M (docs/BENCHMARKS.md).
 *
 * <p>ReLU's derivative reads z only through {@code z > 0}, and {@code relu(z) > 0} exactly where {@code z > 0}
 * (NaN and −0 included: neither passes either test), so the backward pass gives the activation function the forward
 * pass's output in place of z: {@code δ = relu'(z) ⊙ ε}, {@code ∂b = Σ_rows δ}, {@code ∂W = xᵀ·δ} (x the input as the
 * forward pass saw it, after dropout), {@code ε_in = δ·Wᵀ} — DL4J's sums on the same operands, so the gradients are
 * DL4J's bit for bit (tested). The output is copied into an array the layer keeps, because the next layer's dropout may
 * overwrite its input in place; the backward pass writes δ over that copy. The first layer of a network returns an
 * uninitialized array it keeps as its input's gradient, as {@link InputConvGradients} does for a first convolution.
 * The forward pass adds the bias by one broadcasting {@code add} and the backward pass sums the bias gradient by
 * {@code reduce_sum}: the same float sums as DL4J's {@code addiRowVector} and {@code sum(…, 0)}. Every product and
 * sum runs through a native op context the layer keeps ({@link ReusedOp}), and {@code mmuli}'s column-major product is
 * computed into an array it keeps. Each array, op context or native argument list a step makes is registered with
 * ND4J's or JavaCPP's deallocator, and that bookkeeping survives the next young collection and is copied by it, while
 * the collection stops every worker of the JVM; with these layers, {@link OutputForwardOnce}, {@link StepRelu} and
 * {@link ShapeInfoCache}, a warm LeNet-300-100 step on one thread registers 16 ND4J buffers and 3 JavaCPP pointers
 * (41 and 24 before {@link ReusedOp}; measured, the differences per layer tested). Layers with a mask, weight noise,
 * layer normalization, another activation or a non-float output, and a backward pass not preceded by this input's
 * training forward pass, take DL4J's own path.
 *
 * <p>Only for training: {@link #install} swaps each plain DL4J dense layer of a {@link MultiLayerNetwork} for one of
 * these over the same configuration, parameters and gradient views, before the network's updater exists. A saved
 * network names only DL4J's classes (the layer classes are not saved; the configuration is unchanged).
 */
public final class DenseForwardOnce extends org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer {
    private final boolean first;
    private INDArray kept;       // relu(z) of the last training forward pass, outside DL4J's workspaces
    private INDArray keptInput;  // the input (after dropout) that pass read
    private long passes;
    private long forwards;
    private transient Ops ops;  // made on first use
    private transient INDArray unread; // a first layer's input gradient: uninitialized, never read

    private DenseForwardOnce(NeuralNetConfiguration conf, DataType type, boolean first) {
        super(conf, type);
        this.first = first;
    }

    /**
     * Puts a {@code DenseForwardOnce} in place of each plain DL4J dense layer of {@code net} (a {@link MultiLayerNetwork};
     * other models are left alone), sharing its configuration, parameter and gradient views; returns how many it holds.
     * Idempotent. Install before the network's updater is created.
     */
    public static int install(Model net) {
        if (!(net instanceof MultiLayerNetwork m)) return 0;
        Layer[] layers = m.getLayers();
        if (layers == null) return 0;
        int n = 0;
        for (int i = 0; i < layers.length; i++) {
            Layer old = layers[i];
            if (old instanceof DenseForwardOnce) {
                n++;
                continue;
            }
            if (old.getClass() != org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer.class) continue;
            var d = (org.deeplearning4j.nn.layers.feedforward.dense.DenseLayer) old;
            Dl4jFields.swapLayer(m, i, new DenseForwardOnce(d.conf(), d.getDataType(), i == 0));
            n++;
        }
        return n;
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        INDArray out = super.activate(training, workspaceMgr);
        keptInput = null;
        if (training && covered() && out.dataType() == DataType.FLOAT) {
            kept = keep(kept, out);
            keptInput = input;
        }
        return out;
    }

    /**
     * DL4J's {@code BaseLayer.preOutputWithPreNorm} (dropout, {@code x·W} into a workspace array, then the bias), with
     * the bias added by one broadcasting {@code add} instead of {@code addiRowVector}: the same float sums, but one ND4J
     * buffer registered a call instead of six (the legacy broadcast wraps its per-call dimension and shape tables in
     * new buffers, each tracked until the next garbage collection).
     */
    @Override
    protected Pair<INDArray, INDArray> preOutputWithPreNorm(boolean training, boolean forBackprop, LayerWorkspaceMgr workspaceMgr) {
        INDArray w0 = getParam(DefaultParamInitializer.WEIGHT_KEY);
        if (!covered() || !hasBias() || input == null || input.rank() != 2 || input.columns() != w0.rows())
            return super.preOutputWithPreNorm(training, forBackprop, workspaceMgr); // DL4J's path, and its messages
        assertInputSet(forBackprop);
        applyDropOutIfNecessary(training, workspaceMgr);
        INDArray w = getParamWithNoise(DefaultParamInitializer.WEIGHT_KEY, training, workspaceMgr);
        INDArray b = getParamWithNoise(DefaultParamInitializer.BIAS_KEY, training, workspaceMgr);
        INDArray ret = affine(input.castTo(dataType), w, b, workspaceMgr, ops());
        forwards++;
        return new Pair<>(ret, ret);
    }

    /**
     * A layer's kept ops and arrays for {@link #affine(INDArray, INDArray, INDArray, LayerWorkspaceMgr, Ops)} and its
     * backward pass: each custom op through one kept native context ({@link ReusedOp}), and the column-major product
     * that {@code mmuli} computes into a new array before copying it into a row-major result, kept from step to step.
     */
    static final class Ops {
        final ReusedOp product = ReusedOp.matmul(false, false), bias = ReusedOp.add(), biasGradient = ReusedOp.sumRows(),
                inputGradient = ReusedOp.matmul(false, false), weightGradient = ReusedOp.matmul(true, false);
        private INDArray columnMajor;

        /**
         * {@code out = a·b} as {@code a.mmuli(b, out)} computes it, by {@code op} (a {@link ReusedOp#matmul} without
         * transposes): into {@code out} if it is a plain column-major array, otherwise into a column-major array, then
         * copied into {@code out}. The products {@code mmuli} computes otherwise (by a matrix-vector product or a
         * scalar) are left to it.
         */
        INDArray mmuli(ReusedOp op, INDArray a, INDArray b, INDArray out) {
            if (a.rank() != 2 || b.rank() != 2 || b.columns() == 1 || a.isScalar() || b.isScalar() || out == a || out == b)
                return a.mmuli(b, out);
            if (out.ordering() == 'f' && !out.isView() && org.nd4j.linalg.api.shape.Shape.hasDefaultStridesForShape(out))
                return op.run(out, a, b);
            columnMajor = kept(columnMajor, out.dataType(), out.shape(), 'f');
            return out.assign(op.run(columnMajor, a, b));
        }
    }

    /**
     * {@code x·W + b} into a new activations array of {@code workspaceMgr}, as DL4J computes it
     * ({@code x.mmuli(W, ret).addi(b)}): the same ops on the same arrays through a layer's kept {@code ops}, with the
     * bias added by one broadcasting {@code add} (see {@link #preOutputWithPreNorm}).
     */
    static INDArray affine(INDArray x, INDArray w, INDArray b, LayerWorkspaceMgr workspaceMgr, Ops ops) {
        INDArray ret = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, w.dataType(), x.size(0), w.size(1));
        ops.mmuli(ops.product, x.castTo(ret.dataType()), w, ret);
        return ops.bias.run(ret, ret, b);
    }

    /** This layer's kept ops, made on first use (the field is transient: a deserialized layer makes them again). */
    private Ops ops() {
        if (ops == null) ops = new Ops();
        return ops;
    }

    /** {@code from} copied into {@code kept}, or into a new float array outside DL4J's workspaces if its shape differs. */
    static INDArray keep(INDArray kept, INDArray from) {
        return kept(kept, DataType.FLOAT, from.shape(), from.ordering()).assign(from);
    }

    /** {@code kept} if it has this type, shape and order; otherwise a new uninitialized array of them, outside DL4J's workspaces. */
    static INDArray kept(INDArray kept, DataType type, long[] shape, char order) {
        if (kept != null && kept.dataType() == type && kept.ordering() == order && java.util.Arrays.equals(kept.shape(), shape)) return kept;
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return Nd4j.createUninitialized(type, shape, order);
        }
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        if (keptInput == null || keptInput != input || !covered()) return super.backpropGradient(epsilon, workspaceMgr);
        keptInput = null;
        // relu'(z) ⊙ ε written over the kept output, which nothing reads after this pass (the next forward pass refills it)
        var fn = layerConf().getActivationFn();
        INDArray delta = fn instanceof StepRelu s && StepRelu.covers(kept, epsilon) ? s.backpropInto(kept, epsilon, kept) : fn.backprop(kept, epsilon).getFirst();
        Gradient ret = new DefaultGradient(); // DL4J's order: the bias, then the weights
        if (hasBias()) {
            INDArray biasGrad = gradientViews.get(DefaultParamInitializer.BIAS_KEY);
            ops().biasGradient.run(biasGrad, delta); // delta.sum(biasGrad, 0): the same kernel, fewer buffers
            ret.gradientForVariable().put(DefaultParamInitializer.BIAS_KEY, biasGrad);
        }
        INDArray w = getParamWithNoise(DefaultParamInitializer.WEIGHT_KEY, true, workspaceMgr);
        long[] epsilonShape = {w.size(0), delta.size(0)};
        INDArray epsilonNext;
        if (first) { // MultiLayerNetwork drops a first layer's input gradient: one array kept, never read
            unread = kept(unread, delta.dataType(), epsilonShape, 'f');
            epsilonNext = unread.transpose();
        } else {
            epsilonNext = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, delta.dataType(), epsilonShape, 'f');
            epsilonNext = ops().mmuli(ops().inputGradient, w, delta.transpose(), epsilonNext).transpose();
        }
        INDArray weightGrad = gradientViews.get(DefaultParamInitializer.WEIGHT_KEY);
        // Nd4j.gemm(input, delta, weightGrad, true, false, 1.0, 0.0): the same Mmul
        ops().weightGradient.run(weightGrad, input.castTo(weightGrad.dataType()), delta);
        ret.gradientForVariable().put(DefaultParamInitializer.WEIGHT_KEY, weightGrad);
        weightNoiseParams.clear();
        epsilonNext = backpropDropOutIfPresent(epsilonNext);
        passes++;
        return new Pair<>(ret, epsilonNext);
    }

    /** Plain ReLU ({@link StepRelu#plainRelu}), no mask, weight noise or layer normalization. */
    private boolean covered() {
        return StepRelu.plainRelu(layerConf().getActivationFn()) && maskArray == null && layerConf().getWeightNoise() == null && !hasLayerNorm();
    }

    /** How many pre-activations (forward passes) this layer computed itself (the others went to DL4J's path). */
    long forwards() {
        return forwards;
    }

    /** How many backward passes this layer ran itself (the others went to DL4J's path). */
    long passes() {
        return passes;
    }

    /** Whether this is the network's first layer (its input's gradient is not computed). */
    boolean first() {
        return first;
    }
}
