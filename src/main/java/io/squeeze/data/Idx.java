package io.squeeze.data;

import io.squeeze.core.BadInputException;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * The IDX format of LeCun's MNIST files: a magic number {@code 0x0000 08 D} (unsigned bytes, D dimensions),
 * D big-endian int32 sizes, then the data row-major. Images are rank 3 (n, rows, cols), labels rank 1 (n).
 */
public final class Idx {
    private Idx() {}

    /** The header of an IDX file of unsigned bytes. */
    public record Header(int[] dims) {
        public long count() {
            return dims[0];
        }

        /** Bytes per item (the product of all dimensions but the first). */
        public int itemSize() {
            int s = 1;
            for (int i = 1; i < dims.length; i++) s *= dims[i];
            return s;
        }

        public int byteLength() {
            return 4 + 4 * dims.length;
        }
    }

    /** Reads and validates a header; {@code rank} is 3 for images, 1 for labels. */
    public static Header header(InputStream raw, int rank, String where) {
        try {
            DataInputStream in = new DataInputStream(raw);
            int magic = in.readInt();
            if ((magic >>> 8) != 0x08 || (magic & 0xff) != rank)
                throw new BadInputException(where + " is not an IDX file of rank " + rank + " unsigned bytes (magic 0x"
                        + Integer.toHexString(magic) + ", expected 0x" + Integer.toHexString(0x800 | rank) + ")");
            int[] dims = new int[rank];
            for (int i = 0; i < rank; i++) {
                dims[i] = in.readInt();
                if (dims[i] <= 0) throw new BadInputException(where + ": IDX dimension " + i + " is " + dims[i]);
            }
            return new Header(dims);
        } catch (EOFException e) {
            throw new BadInputException(where + " is truncated: no complete IDX header");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Streams rows [start, end) of an image file and its label file; both streams must be positioned just after
     * their headers. Pixels are divided by 255. Rows are produced one at a time.
     */
    public static Iterator<Example> rows(InputStream images, InputStream labels, int itemSize, long start, long end, String where) {
        DataInputStream img = new DataInputStream(images), lab = new DataInputStream(labels);
        try {
            img.skipNBytes(start * itemSize);
            lab.skipNBytes(start);
        } catch (EOFException e) {
            throw new BadInputException(where + " is truncated before row " + start);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Iterator<>() {
            long next = start;
            final byte[] buf = new byte[itemSize];

            @Override
            public boolean hasNext() {
                return next < end;
            }

            @Override
            public Example next() {
                if (next >= end) throw new NoSuchElementException();
                try {
                    img.readFully(buf);
                    int label = lab.readUnsignedByte();
                    float[] x = new float[itemSize];
                    for (int j = 0; j < itemSize; j++) x[j] = (buf[j] & 0xff) / 255f;
                    return new Example(next++, x, label);
                } catch (EOFException e) {
                    throw new BadInputException(where + " is truncated at row " + next);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        };
    }
}
