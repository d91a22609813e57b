package io.squeeze.spark;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Runs on DL4J's training workers before every minibatch and seeds the task thread's ND4J random generator — the one
 * dropout draws its masks from — from the run's seed, the minibatch's contents and the network's iteration count.
 * Without it a worker thread's generator carries whatever state earlier tasks left, so the same seeded command trained
 * with {@code --dropout} gave different weights on every run; with it the masks depend only on what the seed already
 * fixes (which minibatches a worker sees in which round), so the run reproduces its weights, and the same minibatch
 * gets a new mask in every epoch (the iteration count moves on).
 */
public final class DropoutSeedHook implements TrainingHook {
    private static final long serialVersionUID = 1L;
    private final long seed;

    public DropoutSeedHook(long seed) {
        this.seed = seed;
    }

    @Override
    public void preUpdate(DataSet minibatch, Model model) {
        Nd4j.getRandom().setSeed(mix(mix(seed, model) ^ hash(minibatch.getFeatures()), model) ^ hash(minibatch.getLabels()));
    }

    @Override
    public void preUpdate(MultiDataSet minibatch, Model model) {
        long h = mix(seed, model);
        for (INDArray f : minibatch.getFeatures()) h = h * 31 ^ hash(f);
        for (INDArray l : minibatch.getLabels()) h = h * 31 ^ hash(l);
        Nd4j.getRandom().setSeed(h);
    }

    @Override
    public void postUpdate(DataSet minibatch, Model model) {
        // nothing after the update
    }

    @Override
    public void postUpdate(MultiDataSet minibatch, Model model) {
        // nothing after the update
    }

    /**
     * Whether training {@code net} draws from ND4J's random generator, so that the hook changes anything: a layer with
     * dropout of any kind ({@code IDropout}, a {@code DropoutLayer}'s too) or weight noise ({@code DropConnect},
     * {@code WeightNoise}), an RReLU activation, a variational autoencoder, or a layer or vertex defined in SameDiff,
     * whose ops the configuration does not show; wrapped layers (frozen, bidirectional, time-distributed, masked) by
     * what they wrap. Otherwise the hook would hash every minibatch for nothing: 1.5 % of a LeNet-300-100 worker's
     * samples in a {@code local[2]} profile (docs/BENCHMARKS.md, session 57).
     */
    static boolean needed(Model net) {
        if (net instanceof MultiLayerNetwork n) {
            for (var c : n.getLayerWiseConfigurations().getConfs()) if (random(c.getLayer())) return true;
            return false;
        }
        if (net instanceof org.deeplearning4j.nn.graph.ComputationGraph g) {
            for (var v : g.getConfiguration().getVertices().values()) if (random(v)) return true;
            return false;
        }
        return true; // a model of another kind: keep seeding
    }

    private static boolean random(org.deeplearning4j.nn.conf.graph.GraphVertex v) {
        if (v instanceof org.deeplearning4j.nn.conf.graph.LayerVertex l) return random(l.getLayerConf().getLayer());
        if (v instanceof org.deeplearning4j.nn.conf.graph.FrozenVertex f) return random(f.getUnderlying());
        return v instanceof org.deeplearning4j.nn.conf.layers.samediff.SameDiffVertex;
    }

    private static boolean random(org.deeplearning4j.nn.conf.layers.Layer l) {
        if (l == null) return false;
        if (l.getIDropout() != null) return true;
        if (l instanceof org.deeplearning4j.nn.conf.layers.BaseLayer b
                && (b.getWeightNoise() != null || rrelu(b.getActivationFn())
                || l instanceof org.deeplearning4j.nn.conf.layers.AbstractLSTM r && rrelu(r.getGateActivationFn()))) return true;
        if (l instanceof org.deeplearning4j.nn.conf.layers.ActivationLayer a && rrelu(a.getActivationFn())) return true;
        if (l instanceof org.deeplearning4j.nn.conf.layers.variational.VariationalAutoencoder
                || l instanceof org.deeplearning4j.nn.conf.layers.samediff.AbstractSameDiffLayer) return true;
        if (l instanceof org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer w) return random(w.getUnderlying());
        if (l instanceof org.deeplearning4j.nn.conf.layers.misc.FrozenLayer f) return random(f.getLayer());
        if (l instanceof org.deeplearning4j.nn.conf.layers.recurrent.Bidirectional b) return random(b.getFwd()) || random(b.getBwd());
        return false;
    }

    private static boolean rrelu(org.nd4j.linalg.activations.IActivation a) {
        return a instanceof org.nd4j.linalg.activations.impl.ActivationRReLU;
    }

    /** {@code h} mixed with the network's iteration count (SplitMix64's finalizer). */
    static long mix(long h, Model model) {
        long it = model instanceof MultiLayerNetwork n ? n.getLayerWiseConfigurations().getIterationCount()
                : model instanceof org.deeplearning4j.nn.graph.ComputationGraph g ? g.getConfiguration().getIterationCount() : 0;
        long z = h + 0x9E3779B97F4A7C15L * (it + 1);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** A hash of the array's values (in C order): {@link #polynomial} of their bits from {@code 1125899906842597}. */
    static long hash(INDArray a) {
        if (a == null) return 0;
        long h = 1125899906842597L;
        if (a.dataType() == org.nd4j.linalg.api.buffer.DataType.FLOAT && a.ordering() == 'c' && a.elementWiseStride() == 1) {
            java.nio.FloatBuffer b = a.data().asNioFloat(); // read in place, a block at a time: a minibatch is hashed every step
            float[] block = BLOCK.get();
            for (long i = a.offset(), end = a.offset() + a.length(); i < end; i += block.length) {
                int len = (int) Math.min(block.length, end - i);
                b.get((int) i, block, 0, len);
                h = polynomial(h, block, len);
            }
            return h;
        }
        float[] x = a.dup('c').data().asFloat();
        return polynomial(h, x, x.length);
    }

    private static final ThreadLocal<float[]> BLOCK = ThreadLocal.withInitial(() -> new float[4096]);
    private static final long P1 = 31, P2 = P1 * P1, P3 = P2 * P1, P4 = P3 * P1;

    /**
     * {@code h} carried through {@code h = 31·h + bits(x[i])} for the first {@code n} values (each float's bits as a
     * signed int), four values a step: {@code h·31⁴ + b0·31³ + b1·31² + b2·31 + b3} is the same number modulo 2^64 (a
     * ring), with one multiply-add on the chain every four values instead of every value.
     */
    static long polynomial(long h, float[] x, int n) {
        int i = 0;
        for (; i + 4 <= n; i += 4)
            h = h * P4 + (Float.floatToRawIntBits(x[i]) * P3 + Float.floatToRawIntBits(x[i + 1]) * P2
                    + Float.floatToRawIntBits(x[i + 2]) * P1 + Float.floatToRawIntBits(x[i + 3]));
        for (; i < n; i++) h = 31 * h + Float.floatToRawIntBits(x[i]);
        return h;
    }
}
