package io.squeeze.model;

import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collection;

/**
 * A SimpleRnn whose input and/or recurrent matrices are products of two factors ({@link FactoredRecurrent}; one
 * block): {@code h_t = act(x_t·WA·WB + h_{t−1}·RWA·RWB + b)}, computed by DL4J's SimpleRnn kernels on the products
 * ({@link FactoredSimpleRnnLayer}); k·(nIn + H) + r·2H weights instead of H·(nIn + H).
 */
public class FactoredSimpleRnn extends SimpleRnn implements FactoredRecurrent {
    private static final long serialVersionUID = 1L;
    private int inRank;
    private int recRank;

    /** For JSON. */
    public FactoredSimpleRnn() {
        super(new SimpleRnn.Builder());
    }

    /** {@code rnn}'s configuration as a factored SimpleRnn of ranks {@code inRank} (of W) and {@code recRank} (of RW), either 0 to keep it whole. */
    public static FactoredSimpleRnn of(SimpleRnn rnn, int inRank, int recRank) {
        if (rnn.getClass() != SimpleRnn.class) throw new IllegalArgumentException("factors a plain SimpleRnn, got " + rnn.getClass().getSimpleName());
        if (rnn.hasLayerNorm()) throw new io.squeeze.core.BadInputException("factorize: SimpleRnn '" + rnn.getLayerName() + "' has layer normalization");
        FactoredRecurrent.check(rnn, inRank, recRank, 1);
        return (FactoredSimpleRnn) FactoredRecurrent.retyped(rnn, FactoredSimpleRnn.class, inRank, recRank);
    }

    @Override
    public int getInRank() {
        return inRank;
    }

    @Override
    public int getRecRank() {
        return recRank;
    }

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners, int index,
                                                       INDArray view, boolean initialize, DataType dataType) {
        return FactoredRecurrent.instantiate(new FactoredSimpleRnnLayer(conf, dataType), conf, listeners, index, view, initialize);
    }

    @Override
    public ParamInitializer initializer() {
        return FactoredRecurrentParams.INSTANCE;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FactoredSimpleRnn f && f.inRank == inRank && f.recRank == recRank && super.equals(o);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * super.hashCode() + inRank) + recRank;
    }
}
