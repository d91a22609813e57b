package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.data.TextRecords;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.DecimalType;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import scala.collection.Seq;

import java.io.Serializable;
import java.util.Iterator;
import java.util.List;

/**
 * Parquet rows ({@code features}: array&lt;float|double|…&gt; or a Spark ML vector; {@code label}: numeric, null for an
 * unlabelled row) as {@link Example}s whose id is the row's position in the data, as {@code zipWithIndex} numbers them.
 *
 * <p>Numeric arrays are read from Spark's internal rows ({@code toFloatArray}: one bulk copy per row) rather than
 * through {@link Row}, which boxes every element; the row positions come from a first pass over the {@code label}
 * column alone (per-partition counts), not from {@code zipWithIndex}, whose counting pass decodes the features too.
 * Both scans plan the same file splits (Spark splits Parquet files by size, whatever the columns read); each
 * partition checks its count against the first pass. Reading and decoding 120,000 MNIST rows on local[2] went from
 * 1.1 s to 0.4–0.5 s.
 */
final class ParquetExamples {
    private ParquetExamples() {}

    static SparkData.Loaded read(Dataset<Row> df, DataSpec spec) {
        StructType schema = df.schema();
        StructField f = field(schema, "features", spec), l = field(schema, "label", spec);
        DataType ft = f.dataType();
        boolean vector = ft.typeName().equals("vector");
        if (!vector && !(ft instanceof ArrayType at && at.elementType() instanceof NumericType))
            throw new BadInputException("data " + spec + ": column 'features' must be array<float|double> or a Spark ML vector, got " + ft.simpleString());
        if (!(l.dataType() instanceof NumericType))
            throw new BadInputException("data " + spec + ": column 'label' must be numeric, got " + l.dataType().simpleString());
        Dataset<Row> sel = df.select("features", "label");
        if (sel.isEmpty()) throw new BadInputException("data " + spec + " is empty (no rows)");
        String where = spec.toString();
        DataType et = vector ? null : ((ArrayType) ft).elementType();
        boolean bulk = et == DataTypes.FloatType || et == DataTypes.DoubleType;
        JavaRDD<Example> rdd = bulk ? viaInternalRows(sel, (ArrayType) ft, l.dataType(), where) : viaRows(sel, where);
        int nf = rdd.first().features().length;
        JavaRDD<Example> checked = rdd.map(e -> {
            if (e.features().length != nf)
                throw new BadInputException(where + " row " + e.id() + ": has " + e.features().length + " features, the first row has " + nf);
            return e;
        });
        return new SparkData.Loaded(checked, nf, null, spec);
    }

    /** The general path: any numeric array or an ML vector, through {@link Row}. */
    private static JavaRDD<Example> viaRows(Dataset<Row> sel, String where) {
        return sel.javaRDD().zipWithIndex().map(t -> {
            Row r = t._1();
            if (r.isNullAt(0)) throw new BadInputException(where + " row " + t._2() + ": null features");
            float[] x;
            if (r.get(0) instanceof Vector v) {
                double[] d = v.toArray();
                x = new float[d.length];
                for (int j = 0; j < d.length; j++) x[j] = TextRecords.finite((float) d[j], t._2(), j, where);
            } else {
                Seq<Object> s = r.getSeq(0);
                x = new float[s.size()];
                for (int j = 0; j < x.length; j++) x[j] = TextRecords.finite(((Number) s.apply(j)).floatValue(), t._2(), j, where);
            }
            // a null label is an unlabelled row (-1): soft targets and distillation accept them
            return new Example(t._2(), x, r.isNullAt(1) ? -1 : label(((Number) r.get(1)).doubleValue(), t._2(), where));
        });
    }

    /** array&lt;float&gt; / array&lt;double&gt;: bulk copies from internal rows, positions from label-only counts. */
    private static JavaRDD<Example> viaInternalRows(Dataset<Row> sel, ArrayType ft, DataType labelType, String where) {
        List<Long> counts = sel.select("label").queryExecution().toRdd().toJavaRDD()
                .mapPartitions(it -> {
                    long n = 0;
                    for (; it.hasNext(); it.next()) n++;
                    return List.of(n).iterator();
                }).collect();
        long[] offsets = new long[counts.size() + 1];
        for (int p = 0; p < counts.size(); p++) offsets[p + 1] = offsets[p] + counts.get(p);
        boolean doubles = ft.elementType() == DataTypes.DoubleType, nullable = ft.containsNull();
        LabelReader lr = LabelReader.of(labelType);
        return sel.queryExecution().toRdd().toJavaRDD().mapPartitionsWithIndex((p, it) -> {
            if (p + 1 >= offsets.length) throw new IllegalStateException(where + ": partition " + p + " was not counted");
            long first = offsets[p], expected = offsets[p + 1] - first;
            return new Iterator<Example>() {
                long i;

                @Override
                public boolean hasNext() {
                    boolean more = it.hasNext();
                    if (more ? i >= expected : i != expected)
                        throw new IllegalStateException(where + ": partition " + p + " holds " + (more ? "more than " : "") + i
                                + " rows, the label pass counted " + expected);
                    return more;
                }

                @Override
                public Example next() {
                    InternalRow r = it.next();
                    long id = first + i++;
                    if (r.isNullAt(0)) throw new BadInputException(where + " row " + id + ": null features");
                    ArrayData a = r.getArray(0);
                    if (nullable) for (int j = 0; j < a.numElements(); j++)
                        if (a.isNullAt(j)) throw new BadInputException(where + " row " + id + " feature " + j + " is null");
                    float[] x;
                    if (doubles) {
                        double[] d = a.toDoubleArray();
                        x = new float[d.length];
                        for (int j = 0; j < d.length; j++) x[j] = (float) d[j];
                    } else {
                        x = a.toFloatArray();
                    }
                    for (int j = 0; j < x.length; j++) TextRecords.finite(x[j], id, j, where);
                    return new Example(id, x, r.isNullAt(1) ? -1 : label(lr.read(r, 1), id, where));
                }
            };
        }, true);
    }

    /** A numeric label column read from an internal row as a double. */
    @FunctionalInterface
    private interface LabelReader extends Serializable {
        double read(InternalRow r, int i);

        static LabelReader of(DataType t) {
            if (t == DataTypes.IntegerType) return InternalRow::getInt;
            if (t == DataTypes.LongType) return InternalRow::getLong;
            if (t == DataTypes.FloatType) return InternalRow::getFloat;
            if (t == DataTypes.DoubleType) return InternalRow::getDouble;
            if (t == DataTypes.ShortType) return InternalRow::getShort;
            if (t == DataTypes.ByteType) return InternalRow::getByte;
            if (t instanceof DecimalType d) return (r, i) -> r.getDecimal(i, d.precision(), d.scale()).toDouble();
            throw new IllegalArgumentException("label type " + t.simpleString());
        }
    }

    /** A numeric label as a class index; an error shows it as {@code String.valueOf(double)}. */
    private static int label(double d, long id, String where) {
        return TextRecords.label(d, String.valueOf(d), id, where);
    }

    private static StructField field(StructType schema, String name, DataSpec spec) {
        for (StructField f : schema.fields()) if (f.name().equals(name)) return f;
        throw new BadInputException("data " + spec + " has no '" + name + "' column (columns: " + String.join(", ", schema.fieldNames()) + ")");
    }
}
