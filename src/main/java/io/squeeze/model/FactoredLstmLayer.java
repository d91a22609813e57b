package io.squeeze.model;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The running form of a {@link FactoredLstm}: DL4J's LSTM kernels (forward and backpropagation through time) run on
 * the products W = WA·WB and RW = RWA·RWB, formed on every pass; backpropagation takes the kernels' gradient of each
 * product and turns it into the factors' gradients (∂L/∂A = G·Bᵀ, ∂L/∂B = Aᵀ·G), so the updater trains the factors.
 */
public final class FactoredLstmLayer extends org.deeplearning4j.nn.layers.recurrent.LSTM {
    FactoredLstmLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    private FactoredLstm factored() {
        return (FactoredLstm) layerConf();
    }

    @Override
    protected INDArray getParamWithNoise(String param, boolean training, LayerWorkspaceMgr ws) {
        String[] f = params.containsKey(param) ? null : FactoredLstmParams.factors(factored(), param);
        return f == null ? super.getParamWithNoise(param, training, ws) : params.get(f[0]).mmul(params.get(f[1]));
    }

    /** The product {@code param} as DL4J's {@code LSTM} has it (W or RW), or the whole tensor; for runtimes and export. */
    public INDArray product(String param) {
        String[] f = FactoredLstmParams.factors(factored(), param);
        return f == null ? params.get(param).dup() : params.get(f[0]).mmul(params.get(f[1]));
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr ws) {
        return throughProducts(() -> super.backpropGradient(epsilon, ws));
    }

    @Override
    public Pair<Gradient, INDArray> tbpttBackpropGradient(INDArray epsilon, int length, LayerWorkspaceMgr ws) {
        return throughProducts(() -> super.tbpttBackpropGradient(epsilon, length, ws));
    }

    /** Runs DL4J's backpropagation with full-size gradient arrays for the products, then writes the factors' gradients. */
    private Pair<Gradient, INDArray> throughProducts(Supplier<Pair<Gradient, INDArray>> backprop) {
        FactoredLstm l = factored();
        Map<String, INDArray> real = gradientViews;
        Map<String, INDArray> full = new LinkedHashMap<>(real);
        long in = l.getNIn(), h = l.getNOut();
        if (l.getInRank() > 0) full.put("W", Nd4j.create(dataType, new long[]{in, 4 * h}, 'f')); // f order as DL4J's views: its kernels write column blocks in place
        if (l.getRecRank() > 0) full.put("RW", Nd4j.create(dataType, new long[]{h, 4 * h}, 'f'));
        Pair<Gradient, INDArray> p;
        gradientViews = full;
        try {
            p = backprop.get();
        } finally {
            gradientViews = real;
        }
        Gradient g = new DefaultGradient();
        for (String param : new String[]{"W", "RW"}) {
            String[] f = FactoredLstmParams.factors(l, param);
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
}
