package io.squeeze.model;

import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A recurrent layer ({@link Recurrent}) whose input matrix W [nIn, g·H] and/or recurrent matrix RW [H, g·H] are kept
 * as products of two thin factors, W = WA·WB (WA [nIn, k], WB [k, g·H]) and RW = RWA·RWB (RWA [H, r], RWB [r, g·H])
 * — the low-rank recurrent layers of Winata et al. 2019 ("On the Effectiveness of Low-Rank Matrix Factorization for
 * LSTM Model Compression"), one factorization across all g gate blocks of a matrix; a rank of 0 keeps that matrix
 * whole. {@link FactoredLstm} and {@link FactoredSimpleRnn} are the configurations; their running layers let DL4J's
 * own kernels run on the products, formed on every pass, and turn the products' gradients into the factors' by the
 * chain rule (∂L/∂A = G·Bᵀ, ∂L/∂B = Aᵀ·G; {@link #throughProducts}).
 */
public interface FactoredRecurrent {
    /** The rank of W, or 0 when W is whole. */
    int getInRank();

    /** The rank of RW, or 0 when RW is whole. */
    int getRecRank();

    /** The rank of {@code param} ({@code W} or {@code RW}), 0 when whole. */
    default int rank(String param) {
        return "W".equals(param) ? getInRank() : getRecRank();
    }

    /** A running factored layer: its products as the plain layer has them. */
    interface Running {
        /** W or RW as the plain layer holds it (a product of the factors, or the whole tensor). */
        INDArray product(String param);
    }

    /** The factor keys of {@code param} ({@code W} or {@code RW}), or null when it is whole. */
    static String[] factors(FactoredRecurrent l, String param) {
        return l.rank(param) == 0 ? null : new String[]{param + "A", param + "B"};
    }

    /** {@code param} from {@code params}: the whole tensor, or the product of its factors. */
    static INDArray product(FactoredRecurrent l, Map<String, INDArray> params, String param) {
        String[] f = factors(l, param);
        return f == null ? params.get(param) : params.get(f[0]).mmul(params.get(f[1]));
    }

    /**
     * Runs {@code backprop} (DL4J's kernels, which write W's and RW's gradients into the layer's gradient views) with
     * full-size 'f'-order arrays in place of the factored matrices' views — DL4J's views are 'f' order and its kernels
     * write column blocks of them in place — then writes each factor's gradient into its real view.
     *
     * @param l        the layer's configuration (a {@link FactoredLstm} or {@link FactoredSimpleRnn})
     * @param real     the layer's gradient views
     * @param setViews sets the layer's gradient views (to the full-size ones, then back)
     */
    static Pair<Gradient, INDArray> throughProducts(FactoredRecurrent l, DataType dataType, Map<String, INDArray> params, Map<String, INDArray> real,
                                                    Consumer<Map<String, INDArray>> setViews, Supplier<Pair<Gradient, INDArray>> backprop) {
        var conf = (org.deeplearning4j.nn.conf.layers.FeedForwardLayer) l;
        long nIn = conf.getNIn(), hidden = conf.getNOut(), width = Recurrent.gates(conf) * hidden;
        Map<String, INDArray> full = new LinkedHashMap<>(real);
        if (l.getInRank() > 0) full.put("W", Nd4j.create(dataType, new long[]{nIn, width}, 'f'));
        if (l.getRecRank() > 0) full.put("RW", Nd4j.create(dataType, new long[]{hidden, width}, 'f'));
        Pair<Gradient, INDArray> p;
        setViews.accept(full);
        try {
            p = backprop.get();
        } finally {
            setViews.accept(real);
        }
        Gradient g = new DefaultGradient();
        for (String param : new String[]{"W", "RW"}) {
            String[] f = factors(l, param);
            if (f == null) {
                g.setGradientFor(param, real.get(param));
                continue;
            }
            INDArray gp = full.get(param);
            real.get(f[0]).assign(gp.mmul(params.get(f[1]).transpose()));
            real.get(f[1]).assign(params.get(f[0]).transpose().mmul(gp));
            g.setGradientFor(f[0], real.get(f[0]));
            g.setGradientFor(f[1], real.get(f[1]));
        }
        g.setGradientFor("b", real.get("b"));
        return new Pair<>(g, p.getSecond());
    }

    /** {@code ret} (a new running layer of {@code conf}) set up as DL4J's layer configurations set up theirs, its parameters views of {@code view}. */
    static <L extends org.deeplearning4j.nn.layers.BaseLayer<?>> L instantiate(L ret, org.deeplearning4j.nn.conf.NeuralNetConfiguration conf,
                                                                              java.util.Collection<org.deeplearning4j.optimize.api.TrainingListener> listeners,
                                                                              int index, INDArray view, boolean initialize) {
        var l = (org.deeplearning4j.nn.conf.layers.FeedForwardLayer) conf.getLayer();
        org.deeplearning4j.nn.conf.layers.LayerValidation.assertNInNOutSet(l.getClass().getSimpleName(), l.getLayerName(), index, l.getNIn(), l.getNOut());
        ret.setListeners(listeners);
        ret.setIndex(index);
        ret.setParamsViewArray(view);
        ret.setParamTable(FactoredRecurrentParams.INSTANCE.init(conf, view, initialize));
        ret.setConf(conf);
        return ret;
    }

    /** {@code layer}'s configuration as JSON of {@code cls} with the ranks added (every other setting kept). */
    static org.deeplearning4j.nn.conf.layers.Layer retyped(org.deeplearning4j.nn.conf.layers.Layer layer, Class<?> cls, int inRank, int recRank) {
        try {
            var mapper = org.deeplearning4j.nn.conf.NeuralNetConfiguration.mapper();
            org.nd4j.shade.jackson.databind.node.ObjectNode tree = mapper.valueToTree(layer);
            tree.put("@class", cls.getName());
            tree.put("inRank", inRank);
            tree.put("recRank", recRank);
            return mapper.treeToValue(tree, org.deeplearning4j.nn.conf.layers.Layer.class);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot copy the configuration of layer '" + layer.getLayerName() + "'", e);
        }
    }

    /** Refuses ranks outside [0, min(rows, cols)] of a matrix and layers with weight noise. */
    static void check(org.deeplearning4j.nn.conf.layers.FeedForwardLayer l, int inRank, int recRank, int gates) {
        if (l.getWeightNoise() != null)
            throw new io.squeeze.core.BadInputException("factorize: layer '" + l.getLayerName() + "' has weight noise, which a factored layer does not apply");
        long h = l.getNOut();
        check("input", inRank, l.getNIn(), gates * h, l);
        check("recurrent", recRank, h, gates * h, l);
    }

    private static void check(String which, int rank, long rows, long cols, org.deeplearning4j.nn.conf.layers.Layer l) {
        if (rank < 0 || rank > Math.min(rows, cols))
            throw new io.squeeze.core.BadInputException("factorize: the " + which + " rank of " + Recurrent.name(l)
                    + " '" + l.getLayerName() + "' must be in [0, " + Math.min(rows, cols) + "], got " + rank);
    }
}
