package io.squeeze.model;

import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.ShapeInfoProvider;
import org.nd4j.linalg.cpu.nativecpu.DirectShapeInfoProvider;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;

/**
 * ND4J's shape-information buffers, one per distinct shape instead of one per array. Every {@code INDArray} ND4J
 * 1.0.0-M2 creates asks its shape-information provider for a buffer holding its rank, shape, strides, element-wise
 * stride and order ({@code ShapeInfoProvider.createShapeInformation(shape, stride, ews, order, type, empty)}); the
 * CPU backend's {@link DirectShapeInfoProvider} caches only its other overload (views), so each new array gets a fresh
 * native buffer, which ND4J and JavaCPP each register for release when the collector finds it unreachable. A warm
 * LeNet-300-100 step on one thread made 26 of them among its 67 registrations (docs/BENCHMARKS.md, session 55), and
 * every registration leaves objects (the references, their deallocators, an id string, a map entry) that survive the
 * next young collection and are copied by it: on {@code local[2]} those collections stop both workers.
 *
 * <p>This provider answers that overload from a map keyed by all its arguments, as ND4J's own cache does for the
 * other one: the buffer is a function of the arguments, ND4J marks it constant, and no ND4J or DL4J code writes into
 * an array's shape information in place (a new shape gets a new buffer). Up to {@value #MAX_ENTRIES} distinct shapes
 * are kept for the life of the JVM (a few kilobytes of native memory); beyond them a shape gets a fresh buffer as before.
 * {@link #install} puts it in place of the CPU backend's own provider, once per JVM.
 */
final class ShapeInfoCache extends DirectShapeInfoProvider {
    /** The most distinct shapes kept. */
    static final int MAX_ENTRIES = 4096;

    private final ConcurrentHashMap<Key, Pair<DataBuffer, long[]>> cache = new ConcurrentHashMap<>();
    private final int max;

    /** A cache of at most {@code max} shapes. */
    ShapeInfoCache(int max) {
        if (max < 0) throw new IllegalArgumentException("shape-information cache of " + max + " entries");
        this.max = max;
    }

    /** The arguments of one shape-information buffer (the arrays are copies when the key is stored). */
    private record Key(long[] shape, long[] stride, long ews, char order, DataType type, boolean empty) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && ews == k.ews && order == k.order && type == k.type && empty == k.empty
                    && Arrays.equals(shape, k.shape) && Arrays.equals(stride, k.stride);
        }

        @Override
        public int hashCode() {
            return ((Arrays.hashCode(shape) * 31 + Arrays.hashCode(stride)) * 31 + Long.hashCode(ews)) * 31 + order
                    + 7 * type.ordinal() + (empty ? 1 : 0);
        }

        Key copy() {
            return new Key(shape.clone(), stride.clone(), ews, order, type, empty);
        }
    }

    @Override
    public Pair<DataBuffer, long[]> createShapeInformation(long[] shape, long[] stride, long ews, char order, DataType type, boolean empty) {
        if (shape == null || stride == null || type == null) return created(shape, stride, ews, order, type, empty);
        Key k = new Key(shape, stride, ews, order, type, empty);
        Pair<DataBuffer, long[]> hit = cache.get(k);
        if (hit != null) return hit;
        if (cache.size() >= max) return created(shape, stride, ews, order, type, empty);
        return cache.computeIfAbsent(k.copy(), x -> created(x.shape(), x.stride(), x.ews(), x.order(), x.type(), x.empty()));
    }

    private Pair<DataBuffer, long[]> created(long[] shape, long[] stride, long ews, char order, DataType type, boolean empty) {
        return super.createShapeInformation(shape, stride, ews, order, type, empty);
    }

    /** How many distinct shapes are kept. */
    int size() {
        return cache.size();
    }

    /**
     * Makes a {@link ShapeInfoCache} ND4J's shape-information provider if it is still the CPU backend's own; returns
     * whether one is in place now. Idempotent and safe from several threads.
     */
    static synchronized boolean install() {
        ShapeInfoProvider now = Nd4j.getShapeInfoProvider();
        if (now instanceof ShapeInfoCache) return true;
        if (now == null || now.getClass() != DirectShapeInfoProvider.class) return false;
        Dl4jFields.set(Nd4j.class, "shapeInfoProvider", null, new ShapeInfoCache(MAX_ENTRIES));
        return true;
    }

    /** The provider in place, when it is this cache (tests). */
    static ShapeInfoCache installed() {
        return Nd4j.getShapeInfoProvider() instanceof ShapeInfoCache c ? c : null;
    }
}
