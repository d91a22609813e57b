package io.squeeze.model;

/**
 * Reads and writes a DL4J class's non-public field by reflection, for the training kernels that install themselves in
 * a network DL4J built: as a layer's helper ({@link ConvForwardOnce}, {@link InputConvGradients}:
 * DL4J 1.0.0-M2 creates its layers' helpers itself and has no setter) or as a layer of its own ({@link DenseForwardOnce}
 * updates the network's map of layers by name). A field that is not there (another DL4J version) fails loudly.
 */
final class Dl4jFields {
    private Dl4jFields() {}

    /** {@code target}'s field {@code name}, declared by {@code owner}, as a {@code type}. */
    static <T> T get(Class<?> owner, String name, Object target, Class<T> type) {
        try {
            var f = owner.getDeclaredField(name);
            f.setAccessible(true);
            return type.cast(f.get(target));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("DL4J's " + owner.getSimpleName() + " has no " + name + " field: " + e, e);
        }
    }

    /** Sets {@code target}'s field {@code name}, declared by {@code owner}, to {@code value}. */
    static void set(Class<?> owner, String name, Object target, Object value) {
        try {
            var f = owner.getDeclaredField(name);
            f.setAccessible(true);
            f.set(target, value);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("DL4J's " + owner.getSimpleName() + " has no " + name + " field: " + e, e);
        }
    }
}
