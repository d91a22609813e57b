package io.squeeze.distill;

import org.nd4j.shade.jackson.annotation.JsonProperty;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.ILossFunction;

/**
 * {@link KdLossKernel} as a DL4J loss function for a student's output layer, usable in Spark training (its
 * configuration — α, T and the class count — serializes with the network's). It reads the output layer's
 * pre-activation values as the student's logits (the layer's softmax is what inference applies). Labels are
 * rows of width 2K+1: the one-hot hard label (K), the teacher's logits (K), and 1 when the row has a hard label,
 * else 0 (see {@link #labels}). Like DL4J's own losses, the gradient is per example and the score a mean.
 */
public class KdLoss implements ILossFunction {
    private static final long serialVersionUID = 1L;
    @JsonProperty
    private double alpha, temperature;
    @JsonProperty
    private int numClasses;

    public KdLoss() {} // Jackson

    public KdLoss(KdLossKernel kernel, int numClasses) {
        this.alpha = kernel.alpha();
        this.temperature = kernel.temperature();
        this.numClasses = numClasses;
    }

    public KdLossKernel kernel() {
        return new KdLossKernel(alpha, temperature);
    }

    public int numClasses() {
        return numClasses;
    }

    /** Packs one row's label: hard label (or -1), teacher logits. */
    public static void labels(float[] out, int off, int label, float[] teacher, int to, int k) {
        for (int j = 0; j < k; j++) out[off + j] = j == label ? 1f : 0f;
        System.arraycopy(teacher, to, out, off + k, k);
        out[off + 2 * k] = label >= 0 ? 1f : 0f;
    }

    private INDArray perRow(INDArray labels, INDArray preOutput, INDArray mask, float[] grad) {
        int k = numClasses, b = (int) preOutput.size(0);
        if (preOutput.size(1) != k || labels.size(1) != 2L * k + 1)
            throw new IllegalStateException("KD loss for " + k + " classes got logits of width " + preOutput.size(1)
                    + " and labels of width " + labels.size(1) + " (expected " + (2 * k + 1) + ")");
        float[] s = preOutput.dup('c').data().asFloat(), l = labels.dup('c').data().asFloat();
        float[] m = mask == null ? null : mask.dup('c').data().asFloat();
        float[] loss = new float[b];
        KdLossKernel kern = kernel();
        for (int i = 0; i < b; i++) {
            int lo = i * (2 * k + 1), label = -1;
            if (l[lo + 2 * k] > 0.5f) for (int j = 0; j < k; j++) if (l[lo + j] > 0.5f) label = j;
            loss[i] = (float) kern.row(s, i * k, l, lo + k, k, label, grad, i * k);
            if (m != null && m[i] == 0f) {
                loss[i] = 0f;
                if (grad != null) java.util.Arrays.fill(grad, i * k, (i + 1) * k, 0f);
            }
        }
        return Nd4j.create(loss, new long[]{b, 1}, 'c');
    }

    @Override
    public double computeScore(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask, boolean average) {
        INDArray a = perRow(labels, preOutput, mask, null);
        double sum = a.sumNumber().doubleValue();
        return average ? sum / preOutput.size(0) : sum;
    }

    @Override
    public INDArray computeScoreArray(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
        return perRow(labels, preOutput, mask, null);
    }

    @Override
    public INDArray computeGradient(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
        float[] g = new float[(int) preOutput.length()];
        perRow(labels, preOutput, mask, g);
        return Nd4j.create(g, preOutput.shape(), 'c').castTo(preOutput.dataType());
    }

    @Override
    public Pair<Double, INDArray> computeGradientAndScore(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask, boolean average) {
        float[] g = new float[(int) preOutput.length()];
        double sum = perRow(labels, preOutput, mask, g).sumNumber().doubleValue();
        return new Pair<>(average ? sum / preOutput.size(0) : sum, Nd4j.create(g, preOutput.shape(), 'c').castTo(preOutput.dataType()));
    }

    @Override
    public String name() {
        return "KdLoss(alpha=" + alpha + ", T=" + temperature + ")";
    }

    @Override
    public String toString() {
        return name();
    }
}
