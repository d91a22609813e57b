package io.squeeze.spark;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.RecordComponent;

/**
 * Kryo serializer for Java records (Kryo 4, which Spark ships, cannot set a record's final fields): writes
 * each component through its accessor and reads them back through the canonical constructor.
 */
public final class RecordSerializer<T> extends Serializer<T> {
    private final Method[] accessors;
    private final Constructor<T> constructor;

    public RecordSerializer(Kryo kryo, Class<T> type) {
        RecordComponent[] comps = type.getRecordComponents();
        accessors = new Method[comps.length];
        Class<?>[] types = new Class<?>[comps.length];
        for (int i = 0; i < comps.length; i++) {
            accessors[i] = comps[i].getAccessor();
            accessors[i].setAccessible(true);
            types[i] = comps[i].getType();
        }
        try {
            constructor = type.getDeclaredConstructor(types);
            constructor.setAccessible(true);
        } catch (NoSuchMethodException e) {
            throw new IllegalArgumentException("record " + type + " has no canonical constructor", e);
        }
    }

    @Override
    public void write(Kryo kryo, Output output, T object) {
        try {
            for (Method m : accessors) kryo.writeClassAndObject(output, m.invoke(object));
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public T read(Kryo kryo, Input input, Class<T> type) {
        Object[] args = new Object[accessors.length];
        for (int i = 0; i < args.length; i++) args[i] = kryo.readClassAndObject(input);
        try {
            return constructor.newInstance(args);
        } catch (InstantiationException | IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException(e);
        }
    }
}
