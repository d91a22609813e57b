package io.squeeze.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.params.DefaultParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A network's output layer whose training step computes its pre-activation {@code z = x·W + b} once. In a training
 * step DL4J 1.0.0-M2's {@code MultiLayerNetwork} asks the output layer for z twice: its {@code backpropGradient}
 * computes z for the loss's gradient {@code ∂L/∂z} (Rumelhart, Hinton and Williams 1986), and right after it the
 * network's {@code computeScore} computes z again, from the same input and the same weights, for the loss's value;
 * both add the bias by {@code addiRowVector}, a legacy broadcast that wraps its dimension and shape tables in six new
 * ND4J buffers a call. Here the backward pass keeps a copy of z (outside DL4J's workspaces, which close between the
 * two calls) and the score reads that copy: the same floats, so the same gradients and the same score bit for bit
 * (tested against DL4J's layer over training steps with dropout). z is computed as in {@link DenseForwardOnce}: one
 * {@code x·W} and one broadcasting {@code add} (the same float sums as {@code addiRowVector}). The backward pass is
 * DL4J's step by step, its products and its bias sum through op contexts the layer keeps ({@link ReusedOp}).
 *
 * <p>Only z computed inside {@code backpropGradient} is kept, and it is read at most once, only inside the
 * {@code computeScore} that follows, for the same input array, never set again in between. It assumes what
 * {@code MultiLayerNetwork.computeGradientAndScore} (the caller in training) does: nothing changes the weights between
 * the backward pass and the score (the updater runs after both); a caller that changes them in between by hand gets
 * the score of the weights the backward pass saw. Anything else (inference, a mask, weight noise, layer normalization,
 * a non-float output, an input that is not a matrix of the weights' height) takes DL4J's own path.
 *
 * <p>Only for training: {@link #install} swaps the plain DL4J output layer of a {@link MultiLayerNetwork} for one of
 * these over the same configuration, parameters and gradient views, before the network's updater exists. A saved
 * network names only DL4J's classes.
 */
public final class OutputForwardOnce extends org.deeplearning4j.nn.layers.OutputLayer {
    private INDArray kept;      // z of the last training backward pass, outside DL4J's workspaces
    private INDArray keptFor;   // the input array it was computed from; null once read or when the input is set again
    private Phase phase = Phase.OTHER;
    private long computed, backprops;
    private transient DenseForwardOnce.Ops ops; // made on first use

    private enum Phase { BACKWARD, SCORE, OTHER }
    private long reused;

    private OutputForwardOnce(NeuralNetConfiguration conf, DataType type) {
        super(conf, type);
    }

    /**
     * Puts an {@code OutputForwardOnce} in place of a {@link MultiLayerNetwork}'s plain DL4J output layer (other models
     * and other output layers are left alone); returns how many it holds (0 or 1). Idempotent. Install before the
     * network's updater is created.
     */
    public static int install(Model net) {
        if (!(net instanceof MultiLayerNetwork m) || m.getLayers() == null || m.getLayers().length == 0) return 0;
        int last = m.getLayers().length - 1;
        Layer old = m.getLayers()[last];
        if (old instanceof OutputForwardOnce) return 1;
        if (old.getClass() != org.deeplearning4j.nn.layers.OutputLayer.class) return 0;
        Dl4jFields.swapLayer(m, last, new OutputForwardOnce(old.conf(), ((org.deeplearning4j.nn.layers.OutputLayer) old).getDataType()));
        return 1;
    }

    @Override
    public void setInput(INDArray input, LayerWorkspaceMgr workspaceMgr) {
        keptFor = null;
        super.setInput(input, workspaceMgr);
    }

    @Override
    public void clear() {
        keptFor = null; // the copy is never read again; its array is kept for the next step (DL4J clears layers after every fit)
        super.clear();
    }

    @Override
    public Pair<org.deeplearning4j.nn.gradient.Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        keptFor = null;
        phase = Phase.BACKWARD; // z computed here is kept for the score that follows
        try {
            if (!covered() || !hasBias()) return super.backpropGradient(epsilon, workspaceMgr);
            return backprop(workspaceMgr);
        } finally {
            phase = Phase.OTHER;
        }
    }

    /**
     * DL4J's {@code BaseOutputLayer.backpropGradient} step by step (the loss's gradient δ by DL4J's loss function,
     * {@code ∂W = xᵀ·δ}, {@code ∂b = Σ_rows δ}, {@code ε_in = δ·Wᵀ}), the products and the sum through this layer's
     * kept op contexts ({@link ReusedOp}): the same ops on the same arrays.
     */
    private Pair<org.deeplearning4j.nn.gradient.Gradient, INDArray> backprop(LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        INDArray preOut = preOutput2d(true, workspaceMgr);
        INDArray labels2d = getLabels2d(workspaceMgr, ArrayType.BP_WORKING_MEM);
        INDArray delta = layerConf().getLossFn().computeGradient(labels2d, preOut, layerConf().getActivationFn(), maskArray);
        if (ops == null) ops = new DenseForwardOnce.Ops();
        var gradient = new org.deeplearning4j.nn.gradient.DefaultGradient();
        INDArray weightGrad = gradientViews.get(DefaultParamInitializer.WEIGHT_KEY);
        ops.weightGradient.run(weightGrad, input.castTo(weightGrad.dataType()), delta); // Nd4j.gemm(x, δ, ∂W, true, false, 1, 0)
        gradient.gradientForVariable().put(DefaultParamInitializer.WEIGHT_KEY, weightGrad);
        INDArray biasGrad = gradientViews.get(DefaultParamInitializer.BIAS_KEY);
        ops.biasGradient.run(biasGrad, delta); // delta.sum(biasGrad, 0)
        gradient.gradientForVariable().put(DefaultParamInitializer.BIAS_KEY, biasGrad);
        delta = workspaceMgr.leverageTo(ArrayType.ACTIVATION_GRAD, delta);
        INDArray w = getParamWithNoise(DefaultParamInitializer.WEIGHT_KEY, true, workspaceMgr);
        INDArray epsilonNext = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, delta.dataType(), new long[]{w.size(0), delta.size(0)}, 'f');
        epsilonNext = ops.mmuli(ops.inputGradient, w, delta.transpose(), epsilonNext).transpose();
        // DL4J leaves weightNoiseParams for the score that follows; MultiLayerNetwork clears them
        epsilonNext = backpropDropOutIfPresent(epsilonNext);
        backprops++;
        return new Pair<>(gradient, epsilonNext);
    }

    /** How many backward passes this layer ran itself (the others went to DL4J's path). */
    long backprops() {
        return backprops;
    }

    @Override
    public double computeScore(double fullNetRegTerm, boolean training, LayerWorkspaceMgr workspaceMgr) {
        phase = Phase.SCORE; // a kept z of this input may be read here, once
        try {
            return super.computeScore(fullNetRegTerm, training, workspaceMgr);
        } finally {
            phase = Phase.OTHER;
            keptFor = null;
        }
    }

    @Override
    protected INDArray preOutput2d(boolean training, LayerWorkspaceMgr workspaceMgr) {
        if (phase == Phase.SCORE && training && keptFor != null && keptFor == input && covered()) {
            keptFor = null;
            reused++;
            return kept;
        }
        INDArray z = super.preOutput2d(training, workspaceMgr);
        keptFor = null;
        if (phase == Phase.BACKWARD && training && covered() && z.dataType() == DataType.FLOAT && z.rank() == 2) {
            kept = DenseForwardOnce.keep(kept, z);
            keptFor = input;
        }
        return z;
    }

    /** DL4J's {@code BaseLayer.preOutputWithPreNorm}, the bias added as {@link DenseForwardOnce} adds it. */
    @Override
    protected Pair<INDArray, INDArray> preOutputWithPreNorm(boolean training, boolean forBackprop, LayerWorkspaceMgr workspaceMgr) {
        INDArray w0 = getParam(DefaultParamInitializer.WEIGHT_KEY);
        if (!covered() || !hasBias() || input == null || input.rank() != 2 || input.columns() != w0.rows())
            return super.preOutputWithPreNorm(training, forBackprop, workspaceMgr); // DL4J's path, and its messages
        assertInputSet(forBackprop);
        applyDropOutIfNecessary(training, workspaceMgr);
        INDArray w = getParamWithNoise(DefaultParamInitializer.WEIGHT_KEY, training, workspaceMgr);
        INDArray b = getParamWithNoise(DefaultParamInitializer.BIAS_KEY, training, workspaceMgr);
        if (ops == null) ops = new DenseForwardOnce.Ops();
        INDArray ret = DenseForwardOnce.affine(input.castTo(dataType), w, b, workspaceMgr, ops);
        computed++;
        return new Pair<>(ret, ret);
    }

    /** No mask, weight noise or layer normalization. */
    private boolean covered() {
        return maskArray == null && layerConf().getWeightNoise() == null && !hasLayerNorm();
    }

    /** How many pre-activations this layer computed itself (the others went to DL4J's path). */
    long computed() {
        return computed;
    }

    /** How many times a training pre-activation was read from the backward pass's copy. */
    long reused() {
        return reused;
    }
}
