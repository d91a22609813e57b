package io.squeeze.model;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** The running form of a {@link FactoredLstm}: DL4J's LSTM kernels on the products ({@link FactoredRecurrent}). */
public final class FactoredLstmLayer extends org.deeplearning4j.nn.layers.recurrent.LSTM implements FactoredRecurrent.Running {
    FactoredLstmLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
    }

    private FactoredLstm factored() {
        return (FactoredLstm) layerConf();
    }

    @Override
    protected INDArray getParamWithNoise(String param, boolean training, LayerWorkspaceMgr ws) {
        return params.containsKey(param) ? super.getParamWithNoise(param, training, ws) : FactoredRecurrent.product(factored(), params, param);
    }

    @Override
    public INDArray product(String param) {
        return FactoredRecurrent.product(factored(), params, param).dup();
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr ws) {
        return throughProducts(() -> super.backpropGradient(epsilon, ws));
    }

    @Override
    public Pair<Gradient, INDArray> tbpttBackpropGradient(INDArray epsilon, int length, LayerWorkspaceMgr ws) {
        return throughProducts(() -> super.tbpttBackpropGradient(epsilon, length, ws));
    }

    private Pair<Gradient, INDArray> throughProducts(java.util.function.Supplier<Pair<Gradient, INDArray>> backprop) {
        return FactoredRecurrent.throughProducts(factored(), dataType, params, gradientViews, v -> gradientViews = v, backprop);
    }
}
