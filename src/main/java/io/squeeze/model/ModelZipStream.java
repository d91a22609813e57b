package io.squeeze.model;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * A DL4J model zip read and written as a stream, one tensor at a time, for models larger than a JVM's memory.
 *
 * <p>DL4J stores the flat parameter vector as {@code coefficients.bin}: ND4J's binary form of a data buffer
 * ({@code Nd4j.write}) — the shape-info buffer (allocation mode, length, element type, then that many longs), then
 * the data buffer's header (allocation mode, length, element type) and its elements big-endian. {@link #read} parses
 * that header and the configuration without the weights; {@link Coefficients} returns the elements in order, slice by
 * slice ({@link ParamLayout}); {@link Writer} writes a zip byte-identical to {@link ModelIO#toZip} for the same
 * weights: the same entries in the same order, each with the same fixed time.
 */
public final class ModelZipStream {
    static final String CONFIGURATION = "configuration.json", COEFFICIENTS = "coefficients.bin";

    private ModelZipStream() {}

    /**
     * What a model zip holds besides its weights.
     *
     * @param conf    the network configuration
     * @param meta    Squeeze's metadata ({@code squeeze.json}, else derived from the configuration)
     * @param prefix  {@code coefficients.bin} up to its first element
     * @param count   elements in the flat parameter vector
     * @param isFloat whether the elements are FLOAT (32-bit)
     * @param sha256  of the whole file
     * @param bytes   the file's size
     */
    public record Header(MultiLayerConfiguration conf, ModelMeta meta, byte[] prefix, long count, boolean isFloat, String sha256, long bytes) {}

    /**
     * One pass over the file: its configuration, metadata, checksum and parameter header, without keeping the weights;
     * null for a ComputationGraph zip (read whole instead, see {@link GraphChain}).
     */
    public static Header read(Storage st, Path p) {
        String source = p.toString();
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        String confJson = null;
        byte[] metaJson = null, prefix = null;
        long count = -1;
        boolean isFloat = false;
        long size;
        try (InputStream raw = st.open(p, "model"); DigestInputStream digest = new DigestInputStream(raw, sha)) {
            CountingInput counted = new CountingInput(digest);
            java.io.PushbackInputStream head = new java.io.PushbackInputStream(counted, 2);
            byte[] sig = head.readNBytes(2);
            if (sig.length < 2 || sig[0] != 'P' || sig[1] != 'K')
                throw new BadInputException("model " + source + " is not a DL4J model zip (no zip signature); is it corrupt?");
            head.unread(sig);
            ZipInputStream zin = new ZipInputStream(head);
            for (ZipEntry e; (e = zin.getNextEntry()) != null; ) {
                switch (e.getName()) {
                    case CONFIGURATION -> confJson = new String(zin.readAllBytes(), StandardCharsets.UTF_8);
                    case ModelIO.META_ENTRY -> metaJson = zin.readAllBytes();
                    case COEFFICIENTS -> {
                        DataInputStream in = new DataInputStream(zin);
                        ByteArrayOutputStream pre = new ByteArrayOutputStream();
                        DataOutputStream out = new DataOutputStream(pre);
                        bufferHeader(in, out); // the shape-info buffer
                        out.writeUTF(in.readUTF()); // the data buffer's allocation mode, length and type
                        count = in.readLong();
                        out.writeLong(count);
                        String type = in.readUTF();
                        out.writeUTF(type);
                        prefix = pre.toByteArray(); // re-serialized field by field: the same bytes as read
                        isFloat = type.equals("FLOAT");
                    }
                    default -> { }
                }
            }
            counted.transferTo(OutputStream.nullOutputStream()); // the central directory, for the checksum
            size = counted.count;
        } catch (IOException | IllegalArgumentException e) {
            throw new BadInputException("model " + source + " is corrupt or truncated (" + e.getMessage() + ")", e);
        }
        ModelIO.checkConfiguration(confJson, source);
        if (ModelIO.isGraph(confJson)) return null; // a graph is read whole and converted (GraphChain)
        if (prefix == null) throw new BadInputException("model " + source + " has no " + COEFFICIENTS + "; is it truncated?");
        MultiLayerConfiguration conf;
        try {
            conf = MultiLayerConfiguration.fromJson(confJson);
        } catch (RuntimeException e) {
            throw new BadInputException("model " + source + ": " + CONFIGURATION + " is not a valid DL4J configuration (" + e.getMessage() + ")");
        }
        LayerSupport.check(conf, "model " + source);
        ModelMeta meta = metaJson != null ? Json.read(metaJson, ModelMeta.class) : ModelIO.deriveMeta(conf, source);
        return new Header(conf, meta, prefix, count, isFloat, HexFormat.of().formatHex(sha.digest()), size);
    }

    /** Copies the shape-info buffer (mode, length, type, longs or ints). */
    private static void bufferHeader(DataInputStream in, DataOutputStream out) throws IOException {
        out.writeUTF(in.readUTF());
        long n = in.readLong();
        out.writeLong(n);
        String type = in.readUTF();
        out.writeUTF(type);
        if (n < 0 || n > 64) throw new IOException(COEFFICIENTS + " has a shape-info buffer of " + n + " entries");
        for (long i = 0; i < n; i++) {
            if (type.equals("LONG")) out.writeLong(in.readLong());
            else if (type.equals("INT")) out.writeInt(in.readInt());
            else throw new IOException(COEFFICIENTS + " has a shape-info buffer of type " + type);
        }
    }

    /** The elements of {@code coefficients.bin}, read in order. */
    public static final class Coefficients implements AutoCloseable {
        private final InputStream raw;
        private final DataInputStream in;
        private final String source;

        private Coefficients(InputStream raw, DataInputStream in, String source) {
            this.raw = raw;
            this.in = in;
            this.source = source;
        }

        /** Opens {@code p} positioned at the first element ({@code prefix}: the length of {@link Header#prefix}). */
        public static Coefficients open(Storage st, Path p, int prefix) {
            InputStream raw = st.open(p, "model");
            try {
                ZipInputStream zin = new ZipInputStream(new java.io.BufferedInputStream(raw, 1 << 16));
                for (ZipEntry e; (e = zin.getNextEntry()) != null; ) {
                    if (!e.getName().equals(COEFFICIENTS)) continue;
                    DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(zin, 1 << 16));
                    in.skipNBytes(prefix);
                    return new Coefficients(raw, in, p.toString());
                }
                throw new BadInputException("model " + p + " has no " + COEFFICIENTS);
            } catch (IOException e) {
                try {
                    raw.close();
                } catch (IOException ignored) {
                    // reported below
                }
                throw new BadInputException("model " + p + " is corrupt or truncated (" + e.getMessage() + ")");
            }
        }

        /** The next {@code n} elements. */
        public float[] next(int n) {
            float[] out = new float[n];
            byte[] buf = new byte[Math.min(n, 1 << 16) * 4];
            try {
                for (int at = 0; at < n; ) {
                    int k = Math.min(n - at, buf.length / 4);
                    in.readFully(buf, 0, k * 4);
                    ByteBuffer.wrap(buf, 0, k * 4).asFloatBuffer().get(out, at, k);
                    at += k;
                }
            } catch (IOException e) {
                throw new BadInputException("model " + source + " is corrupt or truncated (" + e.getMessage() + ")");
            }
            return out;
        }

        /** Skips {@code n} elements. */
        public void skip(long n) {
            try {
                in.skipNBytes(n * 4);
            } catch (IOException e) {
                throw new BadInputException("model " + source + " is corrupt or truncated (" + e.getMessage() + ")");
            }
        }

        @Override
        public void close() {
            try {
                raw.close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Writes a model zip, tensor by tensor, byte-identical to {@link ModelIO#toZip} for the same network. */
    public static final class Writer implements AutoCloseable {
        private final ZipOutputStream zout;
        private final byte[] meta;
        private final long count;
        private long written;

        /** Starts the zip: the configuration, then {@code coefficients.bin} up to its elements. */
        public Writer(OutputStream out, MultiLayerConfiguration conf, ModelMeta meta, byte[] prefix, long count) {
            this(out, conf, meta, prefix, count, java.util.zip.Deflater.DEFAULT_COMPRESSION);
        }

        /** As the other constructor, deflating at {@code level} (the default level gives {@link ModelIO#toZip}'s bytes). */
        public Writer(OutputStream out, MultiLayerConfiguration conf, ModelMeta meta, byte[] prefix, long count, int level) {
            this.zout = new ZipOutputStream(out);
            zout.setLevel(level);
            this.meta = Json.bytes(meta);
            this.count = count;
            try {
                zout.putNextEntry(ModelIO.entry(CONFIGURATION));
                zout.write(conf.toJson().getBytes(StandardCharsets.UTF_8));
                zout.closeEntry();
                zout.putNextEntry(ModelIO.entry(COEFFICIENTS));
                zout.write(prefix);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** The next elements of the flat parameter vector. */
        public void write(float[] values) {
            byte[] buf = new byte[Math.min(values.length, 1 << 16) * 4];
            try {
                for (int at = 0; at < values.length; ) {
                    int k = Math.min(values.length - at, buf.length / 4);
                    ByteBuffer.wrap(buf, 0, k * 4).asFloatBuffer().put(values, at, k);
                    zout.write(buf, 0, k * 4);
                    at += k;
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            written += values.length;
        }

        /** Ends {@code coefficients.bin}, adds {@code squeeze.json} and closes the zip (not the stream beneath). */
        @Override
        public void close() {
            if (written != count) throw new IllegalStateException("wrote " + written + " of " + count + " parameters");
            try {
                zout.closeEntry();
                zout.putNextEntry(ModelIO.entry(ModelIO.META_ENTRY));
                zout.write(meta);
                zout.closeEntry();
                zout.finish();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Counts the bytes read through it. */
    private static final class CountingInput extends java.io.FilterInputStream {
        long count;

        CountingInput(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) count++;
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) count += n;
            return n;
        }
    }
}
