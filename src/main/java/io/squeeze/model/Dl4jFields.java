package io.squeeze.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.lang.reflect.Field;

/**
 * Reads and writes a DL4J class's non-public field by reflection, for the training kernels that install themselves in
 * a network DL4J built: as a layer's helper ({@link ConvForwardOnce}, {@link InputConvGradients}:
 * DL4J 1.0.0-M2 creates its layers' helpers itself and has no setter) or as a layer of its own ({@link DenseForwardOnce}
 * updates the network's map of layers by name, {@link #swapLayer}). A field that is not there (another DL4J version)
 * fails loudly. Each field is looked up and made accessible once.
 */
final class Dl4jFields {
    private Dl4jFields() {}

    /** Fields already looked up and made accessible, by owner then name: a training step reads some of them. */
    private static final ClassValue<java.util.concurrent.ConcurrentHashMap<String, Field>> FIELDS = new ClassValue<>() {
        @Override
        protected java.util.concurrent.ConcurrentHashMap<String, Field> computeValue(Class<?> type) {
            return new java.util.concurrent.ConcurrentHashMap<>();
        }
    };

    /** {@code owner}'s declared field {@code name}, accessible; looked up once per owner and name. */
    static Field field(Class<?> owner, String name) {
        return FIELDS.get(owner).computeIfAbsent(name, n -> {
            try {
                var f = owner.getDeclaredField(n);
                f.setAccessible(true);
                return f;
            } catch (NoSuchFieldException e) {
                throw new IllegalStateException("DL4J's " + owner.getSimpleName() + " has no " + n + " field: " + e, e);
            }
        });
    }

    /** {@code target}'s field {@code name}, declared by {@code owner}, as a {@code type}. */
    static <T> T get(Class<?> owner, String name, Object target, Class<T> type) {
        try {
            return type.cast(field(owner, name).get(target));
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("DL4J's " + owner.getSimpleName() + "." + name + " cannot be read: " + e, e);
        }
    }

    /** Sets {@code target}'s field {@code name}, declared by {@code owner}, to {@code value}. */
    static void set(Class<?> owner, String name, Object target, Object value) {
        try {
            field(owner, name).set(target, value);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("DL4J's " + owner.getSimpleName() + "." + name + " cannot be written: " + e, e);
        }
    }

    /**
     * Puts {@code now} in place of {@code m}'s layer {@code i}, handing it the old layer's index, listeners, parameter
     * and gradient views and counters (the layer kernels' shared install step).
     */
    static void swapLayer(MultiLayerNetwork m, int i, Layer now) {
        Layer old = m.getLayers()[i];
        now.setIndex(old.getIndex());
        now.setListeners(old.getListeners());
        if (old.numParams() > 0) { // a layer without parameters (pooling) has no views to hand over
            now.setParamsViewArray(old.params());
            now.setParamTable(old.paramTable());
            if (old.getGradientsViewArray() != null) now.setBackpropGradientsViewArray(old.getGradientsViewArray());
        }
        now.setIterationCount(old.getIterationCount());
        now.setEpochCount(old.getEpochCount());
        m.getLayers()[i] = now;
        replaceInLayerMap(m, old, now);
    }

    private static void replaceInLayerMap(MultiLayerNetwork m, Layer old, Layer now) {
        @SuppressWarnings("unchecked")
        java.util.Map<String, Layer> map = get(MultiLayerNetwork.class, "layerMap", m, java.util.Map.class);
        if (map != null) map.replaceAll((k, v) -> v == old ? now : v);
    }
}
