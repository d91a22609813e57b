package io.squeeze.spark;

import io.squeeze.data.Example;
import io.squeeze.data.Shift;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import java.util.Iterator;

/** {@code squeeze augment} as a job: every row streams out as {@code copies} shifted rows (features, label). */
public final class AugmentJob {
    private AugmentJob() {}

    public static final StructType SCHEMA = new StructType().add("features", DataTypes.createArrayType(DataTypes.FloatType, false), false)
            .add("label", DataTypes.IntegerType, true);

    public static JavaRDD<Row> shifted(JavaRDD<Example> rows, int copies, int h, int w, int maxShift, long seed) {
        return rows.mapPartitions(it -> expand(it, copies, h, w, maxShift, seed));
    }

    static Iterator<Row> expand(Iterator<Example> it, int copies, int h, int w, int maxShift, long seed) {
        return new Iterator<>() {
            Example cur;
            int k = copies;

            @Override
            public boolean hasNext() {
                return k < copies || it.hasNext();
            }

            @Override
            public Row next() {
                if (k == copies) {
                    cur = it.next();
                    k = 0;
                }
                float[] x = Shift.copy(cur.features(), h, w, maxShift, seed, cur.id(), k++);
                return RowFactory.create(x, cur.label() < 0 ? null : cur.label());
            }
        };
    }
}
