package io.squeeze.spark;

import com.esotericsoftware.kryo.Kryo;
import org.apache.spark.serializer.KryoRegistrator;

/**
 * Registers {@link RecordSerializer} for every record type and {@link ImmutableCollectionSerializers} for the JDK's
 * unmodifiable collections; list it after ND4J's registrator. Each executor JVM creates one before its first task's
 * data arrives, which is where DL4J's oneDNN layer helpers are turned on there ({@link io.squeeze.model.Dl4jHelpers}).
 */
public final class SqueezeKryoRegistrator implements KryoRegistrator {
    public static final String CHAIN = "org.nd4j.kryo.Nd4jRegistrator," + SqueezeKryoRegistrator.class.getName();

    static {
        io.squeeze.model.Dl4jHelpers.enable();
    }

    @Override
    public void registerClasses(Kryo kryo) {
        kryo.addDefaultSerializer(Record.class, RecordSerializer.class);
        ImmutableCollectionSerializers.register(kryo);
    }
}
