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
 * Mao and Dally 2016, section 3.3 and Figure 3): the cluster of every weight is fixed, and after every parameter
 * update each cluster's weights are set to their mean. Starting from the codebook, that moves each shared value by
 * the <em>mean</em> of its weights' updates. The paper moves it by their <em>sum</em> (plain SGD on the shared
 * value); with a per-weight adaptive updater (Adam, DL4J's default here) a sum would scale a centroid's step with its
 * cluster's size — thousands of times the learning rate for a large cluster — so the mean is used: with SGD it is
 * the paper's update at a learning rate divided by the cluster's size. Pruned weights (not kept) take no part; a
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
