package io.squeeze;

import io.squeeze.core.Storage;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.ModelZipStream;
import io.squeeze.model.ParamLayout;
import io.squeeze.prune.Amount;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A DL4J zip larger than a small JVM's heap (18 dense layers of 2048 x 4096: 143M weights, 570 MB as fp32), written
 * a layer at a time from a seeded generator so the test never holds it either; and the check that an artifact pruned
 * from it carries the exact global magnitude mask.
 */
public final class BigModel {
    public static final int IN = 2048, WIDE = 4096, LAYERS = 18;
    static final Storage ST = new Storage(new Configuration());

    private BigModel() {}

    public static MultiLayerConfiguration conf() {
        int[] hidden = new int[LAYERS - 1];
        for (int i = 0; i < hidden.length; i++) hidden[i] = i % 2 == 0 ? WIDE : IN;
        return Architectures.build(new Arch.Mlp(hidden), IN, 10, null, new Architectures.Hyper(1, 1e-3, 0), null);
    }

    /** Writes the model; returns its weight count (the pruned tensors: every W). */
    public static long write(Path file, long seed) throws IOException {
        MultiLayerConfiguration conf = conf();
        ParamLayout layout = ParamLayout.of(conf);
        SplittableRandom r = new SplittableRandom(seed);
        long weights = 0;
        try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(file), 1 << 20);
             ModelZipStream.Writer w = new ModelZipStream.Writer(out, conf, TestModels.meta(IN, 10), prefix(layout.total()), layout.total(), java.util.zip.Deflater.BEST_SPEED)) {
            for (ParamLayout.Slice s : layout.inFlatOrder()) {
                float[] v = new float[s.length()];
                for (int i = 0; i < v.length; i++) { // 20,000 values, none zero: ties for the selection, and quick to deflate
                    int k = r.nextInt(20000) - 10000;
                    v[i] = (k >= 0 ? k + 1 : k) * 5e-6f;
                }
                w.write(v);
                if (s.param().equals("W")) weights += v.length;
            }
        }
        return weights;
    }

    /** The bytes {@code Nd4j.write} puts before the elements of a FLOAT row vector of {@code n}. */
    static byte[] prefix(long n) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.writeUTF("MIXED_DATA_TYPES");
        d.writeLong(8);
        d.writeUTF("LONG");
        for (long x : new long[]{2, 1, n, n, 1, 8192, 1, 'c'}) d.writeLong(x);
        d.writeUTF("MIXED_DATA_TYPES");
        d.writeLong(n);
        d.writeUTF("FLOAT");
        return b.toByteArray();
    }

    /**
     * Streams {@code source} and the pruned {@code modelZip} side by side and checks the global magnitude mask: exactly
     * {@code amount} of all weights pruned (zero), every pruned weight no larger in magnitude than every kept one, kept
     * weights and every bias unchanged. Returns the pruned count.
     */
    public static long checkGlobal(Path source, Path modelZip, double amount) {
        org.apache.hadoop.fs.Path sp = ST.path(source.toString()), op = ST.path(modelZip.toString());
        ModelZipStream.Header sh = ModelZipStream.read(ST, sp), oh = ModelZipStream.read(ST, op);
        assertEquals(sh.count(), oh.count());
        ParamLayout layout = ParamLayout.of(sh.conf());
        long pruned = 0, weights = 0;
        float maxPruned = 0, minKept = Float.MAX_VALUE;
        try (ModelZipStream.Coefficients a = ModelZipStream.Coefficients.open(ST, sp, sh.prefix().length);
             ModelZipStream.Coefficients b = ModelZipStream.Coefficients.open(ST, op, oh.prefix().length)) {
            for (ParamLayout.Slice s : layout.inFlatOrder()) {
                float[] x = a.next(s.length()), y = b.next(s.length());
                boolean w = s.param().equals("W");
                for (int i = 0; i < x.length; i++) {
                    if (w) weights++;
                    if (w && y[i] == 0f) { // pruned
                        pruned++;
                        maxPruned = Math.max(maxPruned, Math.abs(x[i]));
                        continue;
                    }
                    if (Float.floatToRawIntBits(x[i]) != Float.floatToRawIntBits(y[i])) fail(s + "[" + i + "]: " + x[i] + " became " + y[i]);
                    if (w) minKept = Math.min(minKept, Math.abs(x[i]));
                }
            }
        }
        assertEquals(Amount.fraction(amount).of(weights, "all"), pruned);
        assertTrue(maxPruned <= minKept, "pruned up to " + maxPruned + ", kept from " + minKept);
        return pruned;
    }
}
