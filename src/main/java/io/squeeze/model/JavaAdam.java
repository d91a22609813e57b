package io.squeeze.model;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.AdamUpdater;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.config.Adam;

import java.nio.FloatBuffer;
import java.util.Map;

/**
 * Adam (Kingma and Ba 2015, "Adam: A Method for Stochastic Optimization", Algorithm 1 with the efficient bias
 * correction of its section 2) as a Java loop, in place of ND4J's native {@code adam_updater} op on the networks
 * Squeeze trains. Per element, with gradient g, step t = iteration + 1 and learning rate lr:
 * m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²; update = α_t·m / (√v + ε) with α_t = lr·√(1-β2^t) / (1-β1^t) -
 * libnd4j's formula (its {@code adamUpdater} helper, including its fallback α_t = ε when α_t is 0, NaN or infinite),
 * in float arithmetic as there. DL4J's updater then subtracts the update from the parameters, unless
 * {@link FusedAdamStep} has this block divide the gradient by the minibatch size and subtract the update itself, in the
 * same pass.
 *
 * <p>Why: on the small networks Squeeze fine-tunes, the native op's fixed cost dominates. One DL4J step of
 * LeNet-300-100 (minibatch 64, one thread) spent 38 % of its native time in {@code adam_updater} (JFR native method
 * samples); with this kernel the step went from 5.4-5.6 to 4.0 ms (docs/BENCHMARKS.md, session 31). The loop works on the state and
 * gradient through {@link FloatBuffer}s of ND4J's own memory, a block of {@value #CHUNK} elements at a time copied
 * into float arrays that the JIT vectorizes, so it reads and writes each value once as the native op does.
 *
 * <p>Nothing of it is stored: a network's configuration keeps DL4J's {@link Adam} (a saved model is plain DL4J's), and
 * {@link #install} swaps the {@link GradientUpdater} of each of a network's updater blocks that runs DL4J's
 * {@link AdamUpdater} on float arrays laid out contiguously for one of these, bound to the same state view (the
 * moments stay where DL4J saves, averages and restores them). Any other block (other updaters, other data types,
 * strided views) keeps DL4J's own, and so does a gradient that is not contiguous.
 */
public final class JavaAdam implements GradientUpdater<Adam> {
    /** Elements copied and updated at a time. */
    static final int CHUNK = 4096;

    private final Adam config;
    private INDArray view;
    private final float[] m = new float[CHUNK], v = new float[CHUNK], g = new float[CHUNK], p = new float[CHUNK];
    /** Set by {@link FusedAdamStep#install}: this block also divides by the minibatch and subtracts; null: DL4J does. */
    private FusedAdamStep fused;
    private int paramsFrom, paramsTo; // the block's range of the network's flattened parameters, when fused

    void fuse(FusedAdamStep step, int from, int to) {
        fused = step;
        paramsFrom = from;
        paramsTo = to;
    }

    /** An updater of {@code config} over {@code stateView} (m then v, each as long as the gradient). */
    JavaAdam(Adam config, INDArray stateView) {
        if (!fits(stateView) || stateView.length() % 2 != 0)
            throw new IllegalArgumentException("Adam state must be a contiguous float array of even length, got " + stateView.shapeInfoToString());
        this.config = config;
        this.view = stateView;
    }

    /**
     * Replaces DL4J's native Adam by this kernel in every updater block of {@code net} where it applies (see the class
     * comment); creates the network's updater if it has none yet. Returns how many blocks now use it. Idempotent.
     */
    public static int install(Model net) {
        var u = net instanceof ComputationGraph g ? g.getUpdater() : ((MultiLayerNetwork) net).getUpdater();
        if (!(u instanceof BaseMultiLayerUpdater<?> b)) return 0;
        int n = 0;
        for (UpdaterBlock block : b.getUpdaterBlocks()) {
            GradientUpdater<?> gu = block.getGradientUpdater();
            if (gu instanceof JavaAdam) n++;
            else if (gu != null && gu.getClass() == AdamUpdater.class && gu.getConfig() instanceof Adam a
                    && block.getUpdaterView() != null && fits(block.getUpdaterView())) {
                block.setGradientUpdater(new JavaAdam(a, block.getUpdaterView()));
                n++;
            }
        }
        return n;
    }

    /** How many of {@code net}'s updater blocks run this kernel (0 before its updater exists). */
    public static int blocks(Model net) {
        var u = net instanceof ComputationGraph g ? g.getUpdater(false) : ((MultiLayerNetwork) net).getUpdater(false);
        if (!(u instanceof BaseMultiLayerUpdater<?> b)) return 0;
        return (int) b.getUpdaterBlocks().stream().filter(x -> x.getGradientUpdater() instanceof JavaAdam).count();
    }

    /** Whether {@code a} is a float vector without gaps, so its elements are a run of its buffer's {@link FloatBuffer}. */
    static boolean fits(INDArray a) {
        return a.dataType() == DataType.FLOAT && a.isVectorOrScalar() && a.elementWiseStride() == 1
                && a.offset() + a.length() <= a.data().asNioFloat().capacity();
    }

    @Override
    public Adam getConfig() {
        return config;
    }

    @Override
    public void setState(Map<String, INDArray> stateMap, boolean initialize) {
        throw new UnsupportedOperationException("JavaAdam keeps its state in the updater view; set it through the view");
    }

    @Override
    public Map<String, INDArray> getState() {
        long n = view.length() / 2;
        return Map.of(AdamUpdater.M_STATE, view.reshape(view.length()).get(org.nd4j.linalg.indexing.NDArrayIndex.interval(0, n)),
                AdamUpdater.V_STATE, view.reshape(view.length()).get(org.nd4j.linalg.indexing.NDArrayIndex.interval(n, 2 * n)));
    }

    @Override
    public void setStateViewArray(INDArray viewArray, long[] gradientShape, char gradientOrder, boolean initialize) {
        if (!fits(viewArray) || viewArray.length() % 2 != 0)
            throw new IllegalArgumentException("Adam state must be a contiguous float array of even length, got " + viewArray.shapeInfoToString());
        if (initialize) viewArray.assign(0);
        view = viewArray;
    }

    @Override
    public void applyUpdater(INDArray gradient, int iteration, int epoch) {
        long n = view.length() / 2;
        FusedAdamStep f = fused;
        // owning the division, this block divides whatever path it takes; owning the subtraction only while the
        // network's optimizer runs f's step function, which then leaves this block's parameters alone
        float divisor = f == null ? 1f : f.divisor();
        INDArray params = f != null && f.stepping() ? f.params(paramsFrom, paramsTo) : null;
        if (gradient.length() != n || !fits(gradient) || params != null && (params.length() != n || !fits(params))) {
            // not laid out for the loop: DL4J's own op on the same state
            if (divisor != 1f) gradient.divi(divisor);
            AdamUpdater native_ = new AdamUpdater(config);
            native_.setStateViewArray(view, gradient.shape(), gradient.ordering(), false);
            native_.applyUpdater(gradient, iteration, epoch);
            if (params != null) {
                params.subi(gradient);
                gradient.assign(0); // nothing left for a step function to subtract
            }
            return;
        }
        float beta1 = (float) config.getBeta1(), beta2 = (float) config.getBeta2(), eps = (float) config.getEpsilon();
        float lr = (float) config.getLearningRate(iteration, epoch);
        float beta1t = (float) Math.pow(beta1, iteration + 1), beta2t = (float) Math.pow(beta2, iteration + 1);
        float alpha = lr * (float) Math.sqrt(1f - beta2t) / (1f - beta1t);
        if (Float.isNaN(alpha) || Float.isInfinite(alpha) || alpha == 0) alpha = eps;
        float floor = vFloor(eps);
        FloatBuffer state = view.data().asNioFloat(), grad = gradient.data().asNioFloat();
        int so = (int) view.offset(), go = (int) gradient.offset();
        FloatBuffer par = params == null ? null : params.data().asNioFloat();
        int po = params == null ? 0 : (int) params.offset();
        for (int from = 0; from < n; from += CHUNK) {
            int len = (int) Math.min(CHUNK, n - from);
            state.get(so + from, m, 0, len);
            state.get((int) (so + n + from), v, 0, len);
            grad.get(go + from, g, 0, len);
            if (divisor != 1f) divide(g, len, divisor);
            step(m, v, g, len, beta1, beta2, eps, alpha, floor);
            state.put(so + from, m, 0, len);
            state.put((int) (so + n + from), v, 0, len);
            if (par == null) grad.put(go + from, g, 0, len);
            else {
                par.get(po + from, p, 0, len);
                subtract(p, g, len);
                par.put(po + from, p, 0, len);
            }
        }
    }

    /** {@code g[i] / divisor}: ND4J's {@code divi} of a float array by the minibatch size, value for value. */
    static void divide(float[] g, int len, float divisor) {
        for (int i = 0; i < len; i++) g[i] /= divisor;
    }

    /** {@code p[i] − u[i]}: DL4J's step function's {@code subi}, value for value. */
    static void subtract(float[] p, float[] u, int len) {
        for (int i = 0; i < len; i++) p[i] -= u[i];
    }

    /**
     * Added to and taken from each new m: {@code (m + 2^-85) - 2^-85} is m exactly when |m| ≥ 2^-60 (8.7e-19); a
     * smaller m comes out within 2^-84 of itself, as 0 or at least 2^-109 in magnitude ({@link #step} says why).
     */
    static final float M_FLUSH = 0x1p-85f;
    /** The most a new v is raised to ({@link #vFloor}): √ of it, 2^-60, is far under half an ulp of Adam's ε = 1e-8. */
    static final float V_FLOOR = 0x1p-120f;

    /**
     * The least value of v for {@code eps}: {@link #V_FLOOR}, or less where ε is so small that √v + ε would notice a
     * quarter of its ulp (0 when that is no normal float), so that √v + ε is ε for every v at or below it.
     */
    static float vFloor(float eps) {
        float quarter = Math.ulp(eps) / 4, f = Math.min(V_FLOOR, quarter * quarter);
        return f >= Float.MIN_NORMAL ? f : 0f;
    }

    /**
     * The kernel: updates m and v and turns g into the update, over the first {@code len} elements, with
     * {@code vFloor} from {@link #vFloor}. The moments of a parameter whose gradient stays 0 decay geometrically
     * (β1 = 0.9, β2 = 0.999) into the subnormal floats below 2^-126, and stay there (0.9 times the least subnormal
     * rounds back to it), where x86 cores take a microcode assist for every vector operation touching one: a block
     * holding one subnormal value in 16 took 15 ns an element instead of 0.6–0.7 (a scratch loop), and after six
     * epochs of LeNet-300-100 on MNIST 1.4 % of its Adam state was subnormal (4.3 % of LeNet-5's after three). So a
     * new v is raised to at least {@code vFloor}, where √v + ε equals ε exactly whatever v was below it, and a new m
     * goes through {@link #M_FLUSH}, two additions that keep it and α·m out of that range; both vectorize. The update
     * is bit for bit the formula's wherever |m| ≥ 2^-60 and v ≥ the floor; elsewhere it differs by at most about
     * 2^-84·α/ε (5e-21 for ε = 1e-8 and α ≤ 1e-3), under half an ulp of any parameter larger than 1e-13.
     */
    static void step(float[] m, float[] v, float[] g, int len, float beta1, float beta2, float eps, float alpha, float vFloor) {
        float c1 = 1f - beta1, c2 = 1f - beta2;
        for (int i = 0; i < len; i++) {
            float gi = g[i];
            float mi = (beta1 * m[i] + gi * c1 + M_FLUSH) - M_FLUSH;
            float vi = Math.max(beta2 * v[i] + gi * gi * c2, vFloor);
            m[i] = mi;
            v[i] = vi;
            g[i] = mi * alpha / ((float) Math.sqrt(vi) + eps);
        }
    }
}
