package io.squeeze.model;

import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.Regularization;

import java.util.List;
import java.util.Map;

/**
 * A dense layer with a LoRA adapter (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", 2021):
 * {@code y = act(x·W + b + (α/r)·x·A·B)} with the base W and b frozen (a zero learning rate and no
 * regularization for them) and only A [nIn, r] (Gaussian) and B [r, nOut] (zero) trained, so at step 0 the layer
 * computes exactly what the base layer does. A DL4J SameDiff layer: plain configuration, JSON- and
 * Java-serializable, so it trains with parameter averaging on Spark.
 */
// its settings are private fields: DL4J's JSON (model zips, configuration copies) must see them
@org.nd4j.shade.jackson.annotation.JsonAutoDetect(fieldVisibility = org.nd4j.shade.jackson.annotation.JsonAutoDetect.Visibility.ANY)
public final class LoraDense extends SameDiffLayer implements LoraLayer {
    private long nIn;
    private long nOut;
    private int rank;
    private double alpha;
    private Activation activation;
    private long seed;

    public LoraDense() {
        // for DL4J's JSON deserialization
    }

    public LoraDense(String name, long nIn, long nOut, int rank, double alpha, Activation activation, long seed) {
        this.layerName = name;
        this.nIn = nIn;
        this.nOut = nOut;
        this.rank = rank;
        this.alpha = alpha;
        this.activation = activation;
        this.seed = seed;
    }

    @Override
    public long nIn() {
        return nIn;
    }

    @Override
    public long nOut() {
        return nOut;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public double scale() {
        return alpha / rank;
    }

    @Override
    public long adapterParams() {
        return (long) rank * (nIn + nOut);
    }

    public Activation activation() {
        return activation;
    }

    @Override
    public void defineParameters(SDLayerParams p) {
        p.addWeightParam("W", nIn, nOut);
        p.addBiasParam("b", 1, nOut);
        p.addWeightParam("A", nIn, rank);
        p.addWeightParam("B", rank, nOut);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        LoraLayer.initialize(params, seed, nIn, nOut);
    }

    @Override
    public SDVariable defineLayer(SameDiff sd, SDVariable x, Map<String, SDVariable> p, SDVariable mask) {
        SDVariable base = x.mmul(p.get("W")).add(p.get("b"));
        SDVariable delta = x.mmul(p.get("A")).mmul(p.get("B")).mul(alpha / rank);
        return activation.asSameDiff("out", sd, base.add(delta));
    }

    @Override
    public IUpdater getUpdaterByParam(String param) {
        // DL4J's NoOp leaves the gradient as the update (plain SGD at rate 1); a zero learning rate freezes
        return LoraLayer.trains(param) ? updater : new Sgd(0.0);
    }

    @Override
    public List<Regularization> getRegularizationByParam(String param) {
        return LoraLayer.trains(param) && regularization != null ? regularization : List.of();
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        return InputType.feedForward(nOut);
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        if (override || nIn <= 0) nIn = ((InputType.InputTypeFeedForward) inputType).getSize();
    }

    @Override
    public char paramReshapeOrder(String param) {
        return 'c';
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LoraDense l && super.equals(o) && nIn == l.nIn && nOut == l.nOut && rank == l.rank && alpha == l.alpha
                && activation == l.activation && seed == l.seed;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(super.hashCode(), nIn, nOut, rank, alpha, activation, seed);
    }
}
