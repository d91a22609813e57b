package io.squeeze.spark;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

/**
 * Builds the Spark session of a job. Settings from {@code spark-submit --conf} / {@code spark-defaults.conf}
 * win; where nothing is set Squeeze runs on embedded Spark ({@code local[*]}) with Kryo and ND4J's registrator.
 */
public final class SparkSessions {
    private SparkSessions() {}

    public static SparkConf defaults(String appName) {
        return new SparkConf()
                .setIfMissing("spark.app.name", appName)
                .setIfMissing("spark.master", "local[*]")
                .setIfMissing("spark.ui.enabled", "false")
                .setIfMissing("spark.ui.showConsoleProgress", "false")
                .setIfMissing("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
                .setIfMissing("spark.kryo.registrator", SqueezeKryoRegistrator.CHAIN)
                .setIfMissing("spark.kryoserializer.buffer.max", "512m")
                .setIfMissing("spark.sql.shuffle.partitions", "8");
    }

    /** The job's session, with {@link TaskFailureLog} reporting failed task attempts and lost executors at WARN. */
    public static SparkSession start(String appName) {
        SparkSession s = SparkSession.builder().config(defaults(appName)).getOrCreate();
        synchronized (SparkSessions.class) {
            if (listening != s.sparkContext()) {
                s.sparkContext().addSparkListener(new TaskFailureLog());
                listening = s.sparkContext();
            }
        }
        return s;
    }

    private static org.apache.spark.SparkContext listening;

    public static JavaSparkContext jsc(SparkSession spark) {
        return JavaSparkContext.fromSparkContext(spark.sparkContext());
    }
}
