package io.squeeze.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ndarray.ShapeInfoProvider;
import org.nd4j.linalg.cpu.nativecpu.DirectShapeInfoProvider;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.*;

class ShapeInfoCacheTest {
    private static final int ROWS = 32, IN = 20, CLASSES = 3;

    /** Makes {@code p} ND4J's shape-information provider; returns the one it replaced. */
    static ShapeInfoProvider swapIn(ShapeInfoProvider p) {
        ShapeInfoProvider before = Nd4j.getShapeInfoProvider();
        Dl4jFields.set(Nd4j.class, "shapeInfoProvider", null, p);
        return before;
    }

    /** Runs {@code r} with {@code p} as ND4J's shape-information provider, then puts the one before back. */
    static void with(ShapeInfoProvider p, Runnable r) {
        ShapeInfoProvider before = swapIn(p);
        try {
            r.run();
        } finally {
            swapIn(before);
        }
    }

    @Test
    void installsOnceInPlaceOfTheBackendsProvider() {
        assertTrue(ShapeInfoCache.install());
        ShapeInfoCache c = ShapeInfoCache.installed();
        assertNotNull(c);
        assertTrue(ShapeInfoCache.install());
        assertSame(c, ShapeInfoCache.installed(), "idempotent");
        with(new ShapeInfoProvider() { // another backend's provider is left alone
            public org.nd4j.common.primitives.Pair<org.nd4j.linalg.api.buffer.DataBuffer, long[]> createShapeInformation(long[] s, DataType t) { return null; }
            public org.nd4j.common.primitives.Pair<org.nd4j.linalg.api.buffer.DataBuffer, long[]> createShapeInformation(long[] s, char o, DataType t) { return null; }
            public org.nd4j.common.primitives.Pair<org.nd4j.linalg.api.buffer.DataBuffer, long[]> createShapeInformation(long[] s, long[] st, long e, char o, DataType t, boolean m) { return null; }
            public org.nd4j.common.primitives.Pair<org.nd4j.linalg.api.buffer.DataBuffer, long[]> createShapeInformation(long[] s, long[] st, long e, char o, long x) { return null; }
            public void purgeCache() {}
            public long getCachedBytes() { return 0; }
        }, () -> assertFalse(ShapeInfoCache.install()));
    }

    @Test
    void arraysOfOneShapeShareOneBufferHoldingWhatTheBackendWrites() {
        ShapeInfoCache cache = new ShapeInfoCache(ShapeInfoCache.MAX_ENTRIES);
        DirectShapeInfoProvider backend = new DirectShapeInfoProvider();
        long[][] shapes = {{4, 5}, {5, 4}, {2, 3, 4}, {7}};
        for (long[] shape : shapes)
            for (char order : new char[]{'c', 'f'})
                for (DataType t : new DataType[]{DataType.FLOAT, DataType.DOUBLE, DataType.INT}) {
                    long[] stride = order == 'c' ? Nd4j.getStrides(shape, 'c') : Nd4j.getStrides(shape, 'f');
                    var a = cache.createShapeInformation(shape, stride, 1, order, t, false);
                    var b = cache.createShapeInformation(shape.clone(), stride.clone(), 1, order, t, false);
                    assertSame(a, b, "one buffer a shape");
                    var d = backend.createShapeInformation(shape, stride, 1, order, t, false);
                    assertArrayEquals(d.getSecond(), a.getSecond(), "the backend's own shape information");
                    assertArrayEquals(d.getFirst().asLong(), a.getFirst().asLong());
                }
        assertEquals(shapes.length * 2 * 3, cache.size());
        var empty = cache.createShapeInformation(new long[]{0, 3}, new long[]{3, 1}, 1, 'c', DataType.FLOAT, true);
        assertNotSame(empty, cache.createShapeInformation(new long[]{0, 3}, new long[]{3, 1}, 1, 'c', DataType.FLOAT, false), "empty is a key");
        assertNotSame(cache.createShapeInformation(new long[]{4, 5}, new long[]{5, 1}, 1, 'c', DataType.FLOAT, false),
                cache.createShapeInformation(new long[]{4, 5}, new long[]{5, 1}, -1, 'c', DataType.FLOAT, false), "the element-wise stride is a key");
    }

    @Test
    void aCallersArraysChangedLaterDoNotChangeTheCache() {
        ShapeInfoCache cache = new ShapeInfoCache(ShapeInfoCache.MAX_ENTRIES);
        long[] shape = {3, 4}, stride = {4, 1};
        var a = cache.createShapeInformation(shape, stride, 1, 'c', DataType.FLOAT, false);
        shape[0] = 9;
        stride[0] = 99;
        var b = cache.createShapeInformation(new long[]{3, 4}, new long[]{4, 1}, 1, 'c', DataType.FLOAT, false);
        assertSame(a, b);
        assertArrayEquals(new long[]{3, 4}, org.nd4j.linalg.api.shape.Shape.shape(b.getSecond()));
        assertNotSame(a, cache.createShapeInformation(shape, stride, 1, 'c', DataType.FLOAT, false));
    }

    @Test
    void beyondItsBoundAShapeGetsAFreshBuffer() {
        ShapeInfoCache cache = new ShapeInfoCache(3);
        for (int i = 1; i <= 3; i++) cache.createShapeInformation(new long[]{i}, new long[]{1}, 1, 'c', DataType.FLOAT, false);
        var a = cache.createShapeInformation(new long[]{4}, new long[]{1}, 1, 'c', DataType.FLOAT, false);
        var b = cache.createShapeInformation(new long[]{4}, new long[]{1}, 1, 'c', DataType.FLOAT, false);
        assertNotSame(a, b);
        assertArrayEquals(a.getSecond(), b.getSecond());
        assertEquals(3, cache.size());
        assertSame(cache.createShapeInformation(new long[]{2}, new long[]{1}, 1, 'c', DataType.FLOAT, false),
                cache.createShapeInformation(new long[]{2}, new long[]{1}, 1, 'c', DataType.FLOAT, false), "kept shapes still shared");
    }

    private static MultiLayerNetwork net(MultiLayerConfiguration conf) {
        MultiLayerNetwork n = new MultiLayerNetwork(conf.clone());
        n.init();
        TrainingKernels.install(n);
        return n;
    }

    @Test
    void trainsToTheSameBitsAndAStepRegistersFewerNd4jBuffers() throws Exception {
        MultiLayerConfiguration conf = Architectures.build(Arch.parse("mlp:16,12"), IN, CLASSES, null,
                new Architectures.Hyper(7, 1e-2, 0, 0, 0, null), null);
        DataSet d = new DataSet(Nd4j.rand(DataType.FLOAT, ROWS, IN), Nd4j.eye(CLASSES).getRows(new int[ROWS]).castTo(DataType.FLOAT));
        MultiLayerNetwork cached = net(conf);
        MultiLayerNetwork fresh = net(conf);
        fresh.params().assign(cached.params());
        long[] counts = new long[2];
        var counting = new DenseForwardOnceTest.CountingDeallocator();
        Object before = DenseForwardOnceTest.CountingDeallocator.swapIn(counting);
        try {
            with(new ShapeInfoCache(ShapeInfoCache.MAX_ENTRIES), () -> {
                cached.fit(d); // the first step fills the cache
                counts[0] = counting.count(() -> cached.fit(d));
                for (int i = 0; i < 4; i++) cached.fit(d);
            });
            with(new DirectShapeInfoProvider(), () -> {
                fresh.fit(d);
                counts[1] = counting.count(() -> fresh.fit(d));
                for (int i = 0; i < 4; i++) fresh.fit(d);
            });
        } finally {
            DenseForwardOnceTest.CountingDeallocator.swapIn(before);
        }
        assertArrayEquals(fresh.params().data().asFloat(), cached.params().data().asFloat(), "the same parameters after 6 steps");
        assertArrayEquals(fresh.getUpdater().getStateViewArray().data().asFloat(), cached.getUpdater().getStateViewArray().data().asFloat());
        assertEquals(fresh.score(), cached.score());
        // one new array a layer and pass at least: a three-layer step makes well over 15 fewer registrations
        assertTrue(counts[0] + 15 <= counts[1], "registrations a step: cached " + counts[0] + ", fresh " + counts[1]);
    }

    @Test
    void arraysMadeThroughTheCacheHoldTheirOwnValues() {
        ShapeInfoCache.install();
        INDArray a = Nd4j.create(new float[]{1, 2, 3, 4, 5, 6}, new long[]{2, 3}, 'c');
        INDArray b = Nd4j.create(new float[]{6, 5, 4, 3, 2, 1}, new long[]{2, 3}, 'c');
        assertSame(a.shapeInfoDataBuffer(), b.shapeInfoDataBuffer(), "one buffer for both shapes");
        INDArray t = a.transpose().dup('c');
        assertArrayEquals(new long[]{3, 2}, t.shape());
        assertArrayEquals(new float[]{1, 4, 2, 5, 3, 6}, t.data().asFloat());
        a.reshape(3, 2).addi(1);
        assertArrayEquals(new float[]{2, 3, 4, 5, 6, 7}, a.data().asFloat());
        assertArrayEquals(new float[]{6, 5, 4, 3, 2, 1}, b.data().asFloat());
        assertArrayEquals(new long[]{2, 3}, a.shape());
        assertEquals(21f, b.sumNumber().floatValue());
        assertArrayEquals(new float[]{8, 8, 8, 8, 8, 8}, a.add(b).data().asFloat());
    }
}
