package io.squeeze.model;

import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Collection;

/**
 * An LSTM whose input and/or recurrent matrices are products of two factors ({@link FactoredRecurrent}; g = 4 gate
 * blocks). It computes exactly what a plain {@code LSTM} holding the products as W and RW computes (DL4J's kernels run
 * on them, {@link FactoredLstmLayer}) and stores k·(nIn + 4H) + r·(H + 4H) weights instead of 4H·(nIn + H).
 */
public class FactoredLstm extends LSTM implements FactoredRecurrent {
    private static final long serialVersionUID = 1L;
    private int inRank;
    private int recRank;

    /** For JSON. */
    public FactoredLstm() {}

    /**
     * {@code lstm}'s configuration (activations, updater, regularization, name, layout) as a factored LSTM of ranks
     * {@code inRank} (of W) and {@code recRank} (of RW), either 0 to keep that matrix whole.
     */
    public static FactoredLstm of(LSTM lstm, int inRank, int recRank) {
        if (lstm.getClass() != LSTM.class) throw new IllegalArgumentException("factors a plain LSTM, got " + lstm.getClass().getSimpleName());
        FactoredRecurrent.check(lstm, inRank, recRank, 4);
        return (FactoredLstm) FactoredRecurrent.retyped(lstm, FactoredLstm.class, inRank, recRank);
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
        return FactoredRecurrent.instantiate(new FactoredLstmLayer(conf, dataType), conf, listeners, index, view, initialize);
    }

    @Override
    public ParamInitializer initializer() {
        return FactoredRecurrentParams.INSTANCE;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FactoredLstm f && f.inRank == inRank && f.recRank == recRank && super.equals(o);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * super.hashCode() + inRank) + recRank;
    }
}
