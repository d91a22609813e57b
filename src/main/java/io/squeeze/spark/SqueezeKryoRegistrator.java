package io.squeeze.spark;

import com.esotericsoftware.kryo.Kryo;
import org.apache.spark.serializer.KryoRegistrator;

/**
 * Registers {@link RecordSerializer} for every record type and {@link ImmutableCollectionSerializers} for the JDK's
 * unmodifiable collections; list it after ND4J's registrator.
 */
public final class SqueezeKryoRegistrator implements KryoRegistrator {
    public static final String CHAIN = "org.nd4j.kryo.Nd4jRegistrator," + SqueezeKryoRegistrator.class.getName();

    @Override
    public void registerClasses(Kryo kryo) {
        kryo.addDefaultSerializer(Record.class, RecordSerializer.class);
        ImmutableCollectionSerializers.register(kryo);
    }
}
