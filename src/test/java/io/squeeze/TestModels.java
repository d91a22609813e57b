package io.squeeze;

import io.squeeze.data.Normalization;
import io.squeeze.data.Normalizer;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.ModelMeta;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

/** Small networks for tests. */
public final class TestModels {
    private TestModels() {}

    public static MultiLayerNetwork mlp(int nIn, int[] hidden, int classes, long seed) {
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.Mlp(hidden), nIn, classes, null,
                new Architectures.Hyper(seed, 1e-3, 0), null));
        net.init();
        return net;
    }

    public static ModelMeta meta(int nIn, int classes) {
        return new ModelMeta(nIn, classes, null, Normalizer.NONE, "test");
    }

    public static ModelMeta minmaxMeta(int nIn, int classes) {
        float[] off = new float[nIn], sc = new float[nIn];
        java.util.Arrays.fill(sc, 1f / 16);
        return new ModelMeta(nIn, classes, null, new Normalizer(Normalization.MINMAX, off, sc), "test");
    }

    /** Asserts two networks hold bit-identical parameters. */
    public static void assertSameWeights(MultiLayerNetwork a, MultiLayerNetwork b) {
        float[] x = a.params().dup().data().asFloat(), y = b.params().dup().data().asFloat();
        org.junit.jupiter.api.Assertions.assertEquals(x.length, y.length);
        for (int i = 0; i < x.length; i++)
            org.junit.jupiter.api.Assertions.assertEquals(Float.floatToRawIntBits(x[i]), Float.floatToRawIntBits(y[i]), "param " + i);
    }
}
