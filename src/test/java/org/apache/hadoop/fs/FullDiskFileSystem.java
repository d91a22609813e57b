package org.apache.hadoop.fs;

import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.util.Progressable;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The local disk as {@code full:///path}, with room for only {@link #budget} more bytes: past it a write fails as a
 * full local disk does in Hadoop, with an {@link FSError} ("No space left on device"). In this package because
 * {@code FSError}'s constructor is package-private. Registered as {@code fs.full.impl} in the tests' core-site.xml.
 */
public class FullDiskFileSystem extends RawLocalFileSystem {
    /** Bytes left on the "disk", shared by every instance; tests set it. */
    public static final AtomicLong budget = new AtomicLong(Long.MAX_VALUE);

    @Override
    public URI getUri() {
        return URI.create("full:///");
    }

    @Override
    public String getScheme() {
        return "full";
    }

    @Override
    public FSDataOutputStream create(Path f, FsPermission permission, boolean overwrite, int bufferSize, short replication,
                                     long blockSize, Progressable progress) throws IOException {
        return limited(super.create(f, permission, overwrite, bufferSize, replication, blockSize, progress));
    }

    @Override
    public FSDataOutputStream create(Path f, boolean overwrite, int bufferSize, short replication, long blockSize,
                                     Progressable progress) throws IOException {
        return limited(super.create(f, overwrite, bufferSize, replication, blockSize, progress));
    }

    private FSDataOutputStream limited(FSDataOutputStream real) throws IOException {
        return new FSDataOutputStream(new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                take(1);
                real.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                take(len);
                real.write(b, off, len);
            }

            @Override
            public void flush() throws IOException {
                real.flush();
            }

            @Override
            public void close() throws IOException {
                real.close();
            }
        }, statistics);
    }

    private static void take(long n) {
        if (budget.addAndGet(-n) < 0) throw new FSError(new IOException("No space left on device"));
    }
}
