package io.squeeze.distill;

import io.squeeze.core.BadInputException;

import java.io.Serializable;

/**
 * The knowledge-distillation loss of Hinton, Vinyals and Dean 2015 ("Distilling the Knowledge in a Neural
 * Network"), per row, on plain arrays:
 * <pre>  L = α·CE(softmax(s), y) + (1−α)·T²·KL(softmax(t/T) ‖ softmax(s/T))</pre>
 * with s the student's logits, t the teacher's, y the hard label; a batch's loss is the mean of its rows' (PyTorch's
 * {@code cross_entropy} mean plus {@code kl_div(…, reduction='batchmean')}). A row without a hard label keeps only
 * the soft term (still weighted 1−α). Teacher logits of −∞ (classes a top-k teacher did not keep) have probability
 * 0. The gradient with respect to s is α·(softmax(s) − y) + (1−α)·T·(softmax(s/T) − softmax(t/T)) per row (the
 * batch mean divides it by B).
 *
 * @param alpha       weight of the hard-label term, in [0, 1]
 * @param temperature softening temperature T &gt; 0
 */
public record KdLossKernel(double alpha, double temperature) implements Serializable {
    public KdLossKernel {
        if (!(alpha >= 0 && alpha <= 1)) throw new BadInputException("distill.alpha must be in [0,1], got " + alpha);
        if (!(temperature > 0) || Double.isInfinite(temperature)) throw new BadInputException("distill.temperature must be > 0, got " + temperature);
    }

    /**
     * One row's loss; with {@code grad} non-null also writes dL/ds there.
     *
     * @param s        student logits at {@code so}, k of them
     * @param t        teacher logits at {@code to}
     * @param label    the hard label, or -1 when the row has none
     */
    public double row(float[] s, int so, float[] t, int to, int k, int label, float[] grad, int go) {
        double invT = 1.0 / temperature;
        double[] logQ = logSoftmax(s, so, k, invT), logP = logSoftmax(t, to, k, invT);
        double[] q = new double[k], p = new double[k];
        double kl = 0;
        for (int j = 0; j < k; j++) {
            q[j] = Math.exp(logQ[j]);
            p[j] = Math.exp(logP[j]);
            if (p[j] > 0) kl += p[j] * (logP[j] - logQ[j]);
        }
        double loss = (1 - alpha) * temperature * temperature * kl;
        double[] h = null;
        if (label >= 0) {
            double[] logH = logSoftmax(s, so, k, 1.0);
            h = new double[k];
            for (int j = 0; j < k; j++) h[j] = Math.exp(logH[j]);
            loss += alpha * -logH[label];
        }
        if (grad != null) {
            for (int j = 0; j < k; j++) {
                double g = (1 - alpha) * temperature * (q[j] - p[j]);
                if (h != null) g += alpha * (h[j] - (j == label ? 1 : 0));
                grad[go + j] = (float) g;
            }
        }
        return loss;
    }

    /** log softmax(scale·x) in double (log-sum-exp, so tiny probabilities keep accurate logs); −∞ entries stay −∞. */
    static double[] logSoftmax(float[] x, int off, int k, double scale) {
        double m = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < k; j++) m = Math.max(m, scale * x[off + j]);
        if (m == Double.NEGATIVE_INFINITY) throw new BadInputException("a row of logits is all -infinity");
        double sum = 0;
        for (int j = 0; j < k; j++) if (x[off + j] != Float.NEGATIVE_INFINITY) sum += Math.exp(scale * x[off + j] - m);
        double lse = m + Math.log(sum);
        double[] out = new double[k];
        for (int j = 0; j < k; j++) out[j] = x[off + j] == Float.NEGATIVE_INFINITY ? Double.NEGATIVE_INFINITY : scale * x[off + j] - lse;
        return out;
    }
}
