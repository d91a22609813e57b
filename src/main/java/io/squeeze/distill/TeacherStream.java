package io.squeeze.distill;

import io.squeeze.data.Batches;
import io.squeeze.data.Example;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.function.Function;

/**
 * Streams rows through a teacher a batch at a time — memory is one batch, whatever the stream's length — and
 * yields one result per input row, in order. The kernel behind soft-target files and online distillation.
 */
public final class TeacherStream {
    private TeacherStream() {}

    /** One row's id, hard label (-1 when unlabelled) and the teacher's logits. */
    public record Labelled(long id, int label, float[] logits) {}

    /** {@code rows} through {@code teacher} in batches of {@code batch}; each labelled row mapped by {@code out}. */
    public static <T> Iterator<T> of(Iterator<Example> rows, Teacher.Runner teacher, int batch, int nf, int k, String where,
                                     Function<Labelled, T> out) {
        Iterator<Batches.Batch> batches = Batches.of(rows, batch, nf, where);
        ArrayDeque<T> ready = new ArrayDeque<>();
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                while (ready.isEmpty() && batches.hasNext()) {
                    Batches.Batch b = batches.next();
                    float[] z = teacher.logits(b.features(), b.rows());
                    for (int r = 0; r < b.rows(); r++)
                        ready.add(out.apply(new Labelled(b.ids()[r], b.labels()[r], Arrays.copyOfRange(z, r * k, (r + 1) * k))));
                }
                return !ready.isEmpty();
            }

            @Override
            public T next() {
                if (!hasNext()) throw new NoSuchElementException();
                return ready.poll();
            }
        };
    }
}
