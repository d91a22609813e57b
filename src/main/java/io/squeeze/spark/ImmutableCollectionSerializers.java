package io.squeeze.spark;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * Kryo serializers for the JDK's unmodifiable collections ({@code List.of}, {@code Stream.toList()},
 * {@code Collections.unmodifiable*}, {@code Arrays.asList}). Kryo 4's {@code CollectionSerializer} and
 * {@code MapSerializer} rebuild a collection by instantiating its class and calling {@code add}/{@code put},
 * which these classes refuse: an executor reading a broadcast record that held one failed with
 * {@code UnsupportedOperationException} (local mode never deserializes a broadcast, so no test saw it). These write
 * the elements and read them back into an unmodifiable copy with the same iteration order and equality.
 */
final class ImmutableCollectionSerializers {
    private ImmutableCollectionSerializers() {}

    /** The JDK classes these serializers stand in for, by name (most are private nested classes). */
    static final List<String> LISTS = List.of("java.util.ImmutableCollections$List12", "java.util.ImmutableCollections$ListN",
            "java.util.ImmutableCollections$SubList", "java.util.Collections$UnmodifiableList",
            "java.util.Collections$UnmodifiableRandomAccessList", "java.util.Collections$UnmodifiableCollection",
            "java.util.Arrays$ArrayList");
    static final List<String> SETS = List.of("java.util.ImmutableCollections$Set12", "java.util.ImmutableCollections$SetN",
            "java.util.Collections$UnmodifiableSet");
    static final List<String> SORTED_SETS = List.of("java.util.Collections$UnmodifiableSortedSet",
            "java.util.Collections$UnmodifiableNavigableSet");
    static final List<String> MAPS = List.of("java.util.ImmutableCollections$Map1", "java.util.ImmutableCollections$MapN",
            "java.util.Collections$UnmodifiableMap");
    static final List<String> SORTED_MAPS = List.of("java.util.Collections$UnmodifiableSortedMap",
            "java.util.Collections$UnmodifiableNavigableMap");

    static void register(Kryo kryo) {
        Serializer<Collection<Object>> list = new Elements(size -> new ArrayList<>(size), c -> Collections.unmodifiableList((List<Object>) c));
        Serializer<Collection<Object>> set = new Elements(LinkedHashSet::new, c -> Collections.unmodifiableSet((Set<Object>) c));
        Serializer<Collection<Object>> sortedSet = new Elements(size -> new TreeSet<>(),
                c -> Collections.unmodifiableNavigableSet((TreeSet<Object>) c));
        Serializer<Map<Object, Object>> map = new Entries(false);
        Serializer<Map<Object, Object>> sortedMap = new Entries(true);
        for (String n : LISTS) kryo.register(type(n), list);
        for (String n : SETS) kryo.register(type(n), set);
        for (String n : SORTED_SETS) kryo.register(type(n), sortedSet);
        for (String n : MAPS) kryo.register(type(n), map);
        for (String n : SORTED_MAPS) kryo.register(type(n), sortedMap);
    }

    private static Class<?> type(String name) {
        try {
            return Class.forName(name);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("this JDK has no " + name, e);
        }
    }

    private static final class Elements extends Serializer<Collection<Object>> {
        private final Function<Integer, Collection<Object>> fresh;
        private final Function<Collection<Object>, Collection<Object>> seal;

        Elements(Function<Integer, Collection<Object>> fresh, Function<Collection<Object>, Collection<Object>> seal) {
            super(false, true);
            this.fresh = fresh;
            this.seal = seal;
        }

        @Override
        public void write(Kryo kryo, Output output, Collection<Object> c) {
            output.writeInt(c.size(), true);
            for (Object o : c) kryo.writeClassAndObject(output, o);
        }

        @Override
        public Collection<Object> read(Kryo kryo, Input input, Class<Collection<Object>> type) {
            int n = input.readInt(true);
            Collection<Object> c = fresh.apply(n);
            for (int i = 0; i < n; i++) c.add(kryo.readClassAndObject(input));
            return seal.apply(c);
        }
    }

    private static final class Entries extends Serializer<Map<Object, Object>> {
        private final boolean sorted;

        Entries(boolean sorted) {
            super(false, true);
            this.sorted = sorted;
        }

        @Override
        public void write(Kryo kryo, Output output, Map<Object, Object> m) {
            output.writeInt(m.size(), true);
            for (Map.Entry<Object, Object> e : m.entrySet()) {
                kryo.writeClassAndObject(output, e.getKey());
                kryo.writeClassAndObject(output, e.getValue());
            }
        }

        @Override
        public Map<Object, Object> read(Kryo kryo, Input input, Class<Map<Object, Object>> type) {
            int n = input.readInt(true);
            Map<Object, Object> m = sorted ? new TreeMap<>() : new LinkedHashMap<>(Math.max(16, n * 2));
            for (int i = 0; i < n; i++) m.put(kryo.readClassAndObject(input), kryo.readClassAndObject(input));
            return sorted ? Collections.unmodifiableNavigableMap((TreeMap<Object, Object>) m) : Collections.unmodifiableMap(m);
        }
    }
}
