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
 * The parameters of a {@link FactoredLstm}, in this order in the layer's flat view (each tensor in DL4J's 'f' order
 * as {@code LSTMParamInitializer} lays out W, RW and b): {@code WA [nIn, k], WB [k, 4H]} (or {@code W [nIn, 4H]}
 * when k = 0), {@code RWA [H, r], RWB [r, 4H]} (or {@code RW [H, 4H]}), {@code b [1, 4H]}. New parameters are drawn
 * by the layer's weight init (fan-in = rows, fan-out = columns of each tensor); the forget gate's bias (columns
 * H..2H, DL4J's gate order) starts at its {@code forgetGateBiasInit}.
 */
public final class FactoredLstmParams implements ParamInitializer {
    public static final FactoredLstmParams INSTANCE = new FactoredLstmParams();

    private FactoredLstmParams() {}

    /** The factor keys of {@code param} ({@code W} or {@code RW}) in {@code l}, or null when it is whole. */
    public static String[] factors(FactoredLstm l, String param) {
        return l.rank(param) == 0 ? null : new String[]{param + "A", param + "B"};
    }

    /** Each parameter's key and shape, in the flat view's order. */
    static Map<String, long[]> shapes(FactoredLstm l) {
        long in = l.getNIn(), h = l.getNOut();
        Map<String, long[]> out = new LinkedHashMap<>();
        put(out, "W", l.getInRank(), in, 4 * h);
        put(out, "RW", l.getRecRank(), h, 4 * h);
        out.put("b", new long[]{1, 4 * h});
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
        return shapes((FactoredLstm) layer).values().stream().mapToLong(s -> s[0] * s[1]).sum();
    }

    @Override
    public List<String> paramKeys(Layer layer) {
        return new ArrayList<>(shapes((FactoredLstm) layer).keySet());
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
        FactoredLstm l = (FactoredLstm) conf.getLayer();
        Map<String, INDArray> out = views(l, view);
        if (initialize) {
            out.forEach((k, v) -> {
                if (!k.equals("b")) l.getWeightInitFn().init(v.size(0), v.size(1), v.shape(), 'f', v);
            });
            INDArray b = out.get("b");
            b.assign(0);
            long h = l.getNOut();
            b.get(NDArrayIndex.point(0), NDArrayIndex.interval(h, 2 * h)).assign(l.getForgetGateBiasInit());
        }
        return out;
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray view) {
        return views((FactoredLstm) conf.getLayer(), view);
    }

    private static Map<String, INDArray> views(FactoredLstm l, INDArray view) {
        INDArray flat = view.reshape(view.length());
        Map<String, INDArray> out = new LinkedHashMap<>();
        long at = 0;
        for (var e : shapes(l).entrySet()) {
            long n = e.getValue()[0] * e.getValue()[1];
            out.put(e.getKey(), flat.get(NDArrayIndex.interval(at, at + n)).reshape('f', e.getValue()));
            at += n;
        }
        if (at != view.length()) throw new IllegalStateException("a factored LSTM of " + at + " parameters got a view of " + view.length());
        return out;
    }
}
