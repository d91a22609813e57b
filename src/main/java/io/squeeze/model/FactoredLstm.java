package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.LayerValidation;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.shade.jackson.databind.node.ObjectNode;

import java.util.Collection;
import java.util.Map;

/**
 * An LSTM whose input matrix W [nIn, 4H] and/or recurrent matrix RW [H, 4H] are kept as products of two thin
 * factors, W = WA·WB (WA [nIn, k], WB [k, 4H]) and RW = RWA·RWB (RWA [H, r], RWB [r, 4H]): the low-rank LSTM of
 * Winata et al. 2019 ("On the Effectiveness of Low-Rank Matrix Factorization for LSTM Model Compression"), one
 * factorization across all four gates of a matrix. A rank of 0 keeps that matrix whole (parameter W or RW).
 *
 * <p>The layer computes exactly what a plain {@code LSTM} with the products as W and RW computes (the same DL4J
 * kernels run on the products, {@link FactoredLstmLayer}); it trains the factors, whose gradients follow from the
 * product's by the chain rule (∂L/∂A = ∂L/∂W·Bᵀ, ∂L/∂B = Aᵀ·∂L/∂W). It stores k·(nIn + 4H) + r·(H + 4H) weights
 * instead of 4H·(nIn + H).
 */
public class FactoredLstm extends LSTM {
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
        if (lstm.getWeightNoise() != null)
            throw new BadInputException("factorize: LSTM '" + lstm.getLayerName() + "' has weight noise, which a factored LSTM does not apply");
        long h = lstm.getNOut();
        check("input", inRank, lstm.getNIn(), 4 * h, lstm);
        check("recurrent", recRank, h, 4 * h, lstm);
        try {
            var mapper = NeuralNetConfiguration.mapper();
            ObjectNode tree = mapper.valueToTree(lstm);
            tree.put("@class", FactoredLstm.class.getName());
            tree.put("inRank", inRank);
            tree.put("recRank", recRank);
            return (FactoredLstm) mapper.treeToValue(tree, org.deeplearning4j.nn.conf.layers.Layer.class);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot copy the configuration of LSTM '" + lstm.getLayerName() + "'", e);
        }
    }

    private static void check(String which, int rank, long rows, long cols, LSTM l) {
        if (rank < 0 || rank > Math.min(rows, cols))
            throw new BadInputException("factorize: the " + which + " rank of LSTM '" + l.getLayerName() + "' must be in [0, " + Math.min(rows, cols) + "], got " + rank);
    }

    /** The rank of W, or 0 when W is whole. */
    public int getInRank() {
        return inRank;
    }

    /** The rank of RW, or 0 when RW is whole. */
    public int getRecRank() {
        return recRank;
    }

    /** The rank of {@code param} ({@code W} or {@code RW}), 0 when whole. */
    public int rank(String param) {
        return "W".equals(param) ? inRank : recRank;
    }

    @Override
    public org.deeplearning4j.nn.api.Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners, int index,
                                                       INDArray view, boolean initialize, DataType dataType) {
        LayerValidation.assertNInNOutSet("FactoredLstm", getLayerName(), index, getNIn(), getNOut());
        FactoredLstmLayer ret = new FactoredLstmLayer(conf, dataType);
        ret.setListeners(listeners);
        ret.setIndex(index);
        ret.setParamsViewArray(view);
        Map<String, INDArray> table = initializer().init(conf, view, initialize);
        ret.setParamTable(table);
        ret.setConf(conf);
        return ret;
    }

    @Override
    public ParamInitializer initializer() {
        return FactoredLstmParams.INSTANCE;
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
