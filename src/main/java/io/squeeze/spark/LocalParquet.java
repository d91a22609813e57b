package io.squeeze.spark;

import io.squeeze.core.Storage;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.schema.MessageType;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.execution.datasources.parquet.SparkToParquetSchemaConverter;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.List;

/**
 * Parquet written in this process ({@code --local}: soft targets, augment), in the layout Spark itself writes for the
 * same schema (Spark's own schema converter; arrays as Parquet's three-level LIST), so Spark and Squeeze read it like
 * the parts written on executors. One file {@code part-00000.parquet}, its footer made deterministic by
 * {@link ParquetParts}. Column types: long, int, float arrays and int arrays — what those outputs hold.
 */
final class LocalParquet {
    private LocalParquet() {}

    /** Writes {@code rows} to {@code dir/part-00000.parquet}; returns how many. */
    static long write(Storage st, Path dir, StructType schema, Iterator<Row> rows, int rowGroupBytes) {
        MessageType parquet = new SparkToParquetSchemaConverter(SQLConf.get()).convert(schema);
        SimpleGroupFactory groups = new SimpleGroupFactory(parquet);
        Path raw = new Path(dir, "_local.parquet");
        long n = 0;
        try (ParquetWriter<Group> w = ExampleParquetWriter.builder(raw).withConf(st.conf()).withType(parquet)
                .withRowGroupSize(rowGroupBytes).build()) {
            while (rows.hasNext()) {
                w.write(group(groups.newGroup(), schema, rows.next()));
                n++;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + raw + ": " + e.getMessage(), e);
        }
        try {
            ParquetParts.copy(st, raw, new Path(dir, "part-00000.parquet"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        st.delete(raw);
        return n;
    }

    private static Group group(Group g, StructType schema, Row r) {
        StructField[] fields = schema.fields();
        for (int i = 0; i < fields.length; i++) {
            if (r.isNullAt(i)) continue;
            String name = fields[i].name();
            if (fields[i].dataType().equals(DataTypes.LongType)) g.add(name, r.getLong(i));
            else if (fields[i].dataType().equals(DataTypes.IntegerType)) g.add(name, r.getInt(i));
            else if (fields[i].dataType() instanceof ArrayType a) {
                Group list = g.addGroup(name);
                Object v = r.get(i);
                int len = v instanceof float[] f ? f.length : v instanceof int[] x ? x.length : ((List<?>) r.getList(i)).size();
                for (int j = 0; j < len; j++) {
                    Group element = list.addGroup(0);
                    if (a.elementType().equals(DataTypes.FloatType))
                        element.add(0, v instanceof float[] f ? f[j] : ((Number) r.getList(i).get(j)).floatValue());
                    else element.add(0, v instanceof int[] x ? x[j] : ((Number) r.getList(i).get(j)).intValue());
                }
            } else throw new IllegalArgumentException("LocalParquet cannot write a " + fields[i].dataType() + " column");
        }
        return g;
    }
}
