package io.squeeze.model;

import io.squeeze.core.Mask;
import org.deeplearning4j.nn.api.layers.LayerConstraint;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;

/**
 * A DL4J layer constraint that keeps a weight-shared parameter shared while it trains (codebook fine-tuning, Han,
 * Mao and Dally 2016, section 3.3 and Figure 3): the cluster of every weight is fixed. Before every update
 * {@link TiedGradients} gives each weight its cluster's summed gradient ({@link #sumGradients}, the paper's rule), so
 * every weight of a cluster takes the same step; after every update each cluster's weights are set to their mean
 * ({@link #tie}), which leaves tied weights exactly as they are and re-ties any that an updater state carried over
 * from earlier training moved apart. Pruned weights (not kept) take no part and get no gradient; a
 * {@link MaskConstraint} keeps them at zero. Travels with the configuration (JSON or Java serialization) to
 * executors, as {@link MaskConstraint} does; parameter averaging of tied weights keeps them tied.
 */
public final class CodebookConstraint extends ParamConstraint<CodebookConstraint.Assignment> {
    private static final long serialVersionUID = 1L;
    private Map<String, String> clusters = new HashMap<>(); // param -> base64 of one unsigned byte per weight
    private Map<String, String> kept = new HashMap<>();     // param -> base64 of Mask.toBytes() (its size: the clusters' bytes)
    private Map<String, Integer> counts = new HashMap<>();  // param -> number of clusters

    /** A parameter's assignment: the cluster of each weight (-1: pruned) and the number of clusters. */
    public record Assignment(int[] cluster, int count) {}

    public CodebookConstraint() {
    }

    public CodebookConstraint(Map<String, Assignment> byParam) {
        byParam.forEach((k, a) -> {
            if (a.count() > 256) throw new IllegalArgumentException(k + ": at most 256 clusters, got " + a.count());
            byte[] b = new byte[a.cluster().length];
            boolean[] m = new boolean[b.length];
            for (int i = 0; i < b.length; i++) {
                m[i] = a.cluster()[i] >= 0;
                b[i] = (byte) Math.max(0, a.cluster()[i]);
            }
            params.add(k);
            clusters.put(k, Base64.getEncoder().encodeToString(b));
            kept.put(k, Base64.getEncoder().encodeToString(Mask.of(m).toBytes()));
            counts.put(k, a.count());
        });
    }

    /** The assignment of {@code param}. */
    public Assignment assignment(String param) {
        byte[] b = Base64.getDecoder().decode(clusters.get(param));
        Mask m = Mask.fromBytes(Base64.getDecoder().decode(kept.get(param)), b.length);
        int[] c = new int[b.length];
        for (int i = 0; i < c.length; i++) c[i] = m.kept(i) ? b[i] & 0xff : -1;
        return new Assignment(c, counts.get(param));
    }

    @Override
    protected Assignment prepare(String param, INDArray p) {
        return assignment(param);
    }

    @Override
    protected void apply(INDArray p, Assignment a) {
        p.assign(Nd4j.create(tie(p.dup('c').data().asFloat(), a.cluster(), a.count()), p.shape(), 'c').castTo(p.dataType()));
    }

    /**
     * Replaces, in place, the gradient {@code g} of each of this constraint's parameters of {@code layer} by
     * {@link #sumGradients}; {@code gradientOf} gives a parameter's gradient view (null: none).
     */
    public void tieGradients(org.deeplearning4j.nn.api.Layer layer, java.util.function.Function<String, INDArray> gradientOf) {
        for (String k : params) {
            INDArray g = gradientOf.apply(k), p = layer.getParam(k);
            if (g == null || p == null) continue;
            Assignment a = prepared(k, p);
            g.assign(Nd4j.create(sumGradients(g.dup('c').data().asFloat(), a.cluster(), a.count()), g.shape(), 'c').castTo(g.dataType()));
        }
    }

    /**
     * The paper's gradient of a shared value: every weight's gradient becomes the sum (in double) of its cluster's
     * gradients; a pruned weight's becomes 0. Returns {@code g}.
     */
    public static float[] sumGradients(float[] g, int[] cluster, int count) {
        double[] sum = new double[count];
        for (int i = 0; i < g.length; i++) if (cluster[i] >= 0) sum[cluster[i]] += g[i];
        for (int i = 0; i < g.length; i++) g[i] = cluster[i] >= 0 ? (float) sum[cluster[i]] : 0f;
        return g;
    }

    /** Sets every cluster's weights to their mean (pruned weights untouched); returns {@code w}. */
    public static float[] tie(float[] w, int[] cluster, int count) {
        double[] sum = new double[count];
        int[] n = new int[count];
        for (int i = 0; i < w.length; i++) {
            int j = cluster[i];
            if (j < 0) continue;
            sum[j] += w[i];
            n[j]++;
        }
        float[] mean = new float[count];
        for (int j = 0; j < count; j++) mean[j] = n[j] == 0 ? 0f : (float) (sum[j] / n[j]);
        for (int i = 0; i < w.length; i++) if (cluster[i] >= 0) w[i] = mean[cluster[i]];
        return w;
    }

    public Map<String, String> getClusters() {
        return clusters;
    }

    public void setClusters(Map<String, String> clusters) {
        this.clusters = clusters;
    }

    public Map<String, String> getKept() {
        return kept;
    }

    public void setKept(Map<String, String> kept) {
        this.kept = kept;
    }

    public Map<String, Integer> getCounts() {
        return counts;
    }

    public void setCounts(Map<String, Integer> counts) {
        this.counts = counts;
    }

    @Override
    public LayerConstraint clone() {
        CodebookConstraint c = new CodebookConstraint();
        c.params = new HashSet<>(params);
        c.clusters = new HashMap<>(clusters);
        c.kept = new HashMap<>(kept);
        c.counts = new HashMap<>(counts);
        return c;
    }
}
