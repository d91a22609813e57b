package io.squeeze.model;

import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parameters of a {@link FactoredRecurrent} layer with g gate blocks, in this order in the layer's flat view
 * (each tensor in DL4J's 'f' order as DL4J lays out W, RW and b): {@code WA [nIn, k], WB [k, g·H]} (or
 * {@code W [nIn, g·H]} when k = 0), {@code RWA [H, r], RWB [r, g·H]} (or {@code RW [H, g·H]}), {@code b [1, g·H]}.
 * New parameters are drawn by the layer's weight init (fan-in = rows, fan-out = columns of each tensor); the bias
 * starts at the layer's bias init, an LSTM's forget gate (columns H..2H, DL4J's gate order) at its
 * {@code forgetGateBiasInit}.
 */
public final class FactoredRecurrentParams implements ParamInitializer {
    public static final FactoredRecurrentParams INSTANCE = new FactoredRecurrentParams();

    private FactoredRecurrentParams() {}

    /** Each parameter's key and shape, in the flat view's order. */
    static Map<String, long[]> shapes(Layer layer) {
        var l = (org.deeplearning4j.nn.conf.layers.FeedForwardLayer) layer;
        var f = (FactoredRecurrent) layer;
        long in = l.getNIn(), h = l.getNOut(), g = Recurrent.gates(layer);
        Map<String, long[]> out = new LinkedHashMap<>();
        put(out, "W", f.getInRank(), in, g * h);
        put(out, "RW", f.getRecRank(), h, g * h);
        out.put("b", new long[]{1, g * h});
        return out;
    }

    private static void put(Map<String, long[]> out, String key, int rank, long rows, long cols) {
        if (rank == 0) {
            out.put(key, new long[]{rows, cols});
        } else {
            out.put(key + "A", new long[]{rows, rank});
            out.put(key + "B", new long[]{rank, cols});
        }
    }

    @Override
    public long numParams(NeuralNetConfiguration conf) {
        return numParams(conf.getLayer());
    }

    @Override
    public long numParams(Layer layer) {
        return shapes(layer).values().stream().mapToLong(s -> s[0] * s[1]).sum();
    }

    @Override
    public List<String> paramKeys(Layer layer) {
        return new ArrayList<>(shapes(layer).keySet());
    }

    @Override
    public List<String> weightKeys(Layer layer) {
        return paramKeys(layer).stream().filter(k -> !k.equals("b")).toList();
    }

    @Override
    public List<String> biasKeys(Layer layer) {
        return List.of("b");
    }

    @Override
    public boolean isWeightParam(Layer layer, String key) {
        return !key.equals("b");
    }

    @Override
    public boolean isBiasParam(Layer layer, String key) {
        return key.equals("b");
    }

    @Override
    public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray view, boolean initialize) {
        var l = (org.deeplearning4j.nn.conf.layers.FeedForwardLayer) conf.getLayer();
        Map<String, INDArray> out = views(l, view);
        if (initialize) {
            out.forEach((k, v) -> {
                if (!k.equals("b")) l.getWeightInitFn().init(v.size(0), v.size(1), v.shape(), 'f', v);
            });
            INDArray b = out.get("b");
            b.assign(l.getBiasInit());
            long h = l.getNOut();
            if (l instanceof org.deeplearning4j.nn.conf.layers.LSTM lstm)
                b.get(NDArrayIndex.point(0), NDArrayIndex.interval(h, 2 * h)).assign(lstm.getForgetGateBiasInit());
        }
        return out;
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray view) {
        return views(conf.getLayer(), view);
    }

    private static Map<String, INDArray> views(Layer l, INDArray view) {
        INDArray flat = view.reshape(view.length());
        Map<String, INDArray> out = new LinkedHashMap<>();
        long at = 0;
        for (var e : shapes(l).entrySet()) {
            long n = e.getValue()[0] * e.getValue()[1];
            out.put(e.getKey(), flat.get(NDArrayIndex.interval(at, at + n)).reshape('f', e.getValue()));
            at += n;
        }
        if (at != view.length()) throw new IllegalStateException("a factored layer of " + at + " parameters got a view of " + view.length());
        return out;
    }
}
