package io.squeeze.core;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Files on any Hadoop filesystem ({@code file:}, {@code hdfs://}, {@code s3a://}, plain local paths), with the
 * error handling the CLI needs: a missing file is a {@link BadInputException} naming the path.
 */
public final class Storage {
    private final Configuration conf;

    public Storage(Configuration conf) {
        this.conf = conf;
    }

    /**
     * Storage with the Hadoop configuration a Spark job would see ({@code spark.hadoop.*} settings from
     * {@code spark-submit}/{@code spark-defaults.conf} applied), without starting Spark.
     */
    public static Storage withSparkDefaults() {
        return new Storage(org.apache.spark.deploy.SparkHadoopUtil.get().newConfiguration(new org.apache.spark.SparkConf()));
    }

    public Configuration conf() {
        return conf;
    }

    public Path path(String uri) {
        try {
            Path p = new Path(uri);
            return p.getFileSystem(conf).makeQualified(p);
        } catch (IllegalArgumentException e) {
            throw new BadInputException("'" + uri + "' is not a valid path: " + e.getMessage());
        } catch (IOException e) {
            throw new BadInputException("cannot reach the filesystem of '" + uri + "': " + e.getMessage(), e);
        }
    }

    public FileSystem fs(Path p) {
        try {
            FileSystem fs = p.getFileSystem(conf);
            // no .crc side files next to artifacts on local disk; artifacts carry their own sha256 checksums
            if (fs instanceof org.apache.hadoop.fs.LocalFileSystem local) local.setWriteChecksum(false);
            return fs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public boolean exists(Path p) {
        try {
            return fs(p).exists(p);
        } catch (IOException e) {
            throw failure(p, e);
        }
    }

    public boolean isDirectory(Path p) {
        try {
            return fs(p).getFileStatus(p).isDirectory();
        } catch (java.io.FileNotFoundException e) {
            return false;
        } catch (IOException e) {
            throw failure(p, e);
        }
    }

    public long length(Path p) {
        try {
            return fs(p).getFileStatus(p).getLen();
        } catch (IOException e) {
            throw failure(p, e);
        }
    }

    /**
     * A storage failure as the user should see it: missing credentials or a denied access is bad input naming the path
     * and what to set (one line, not the SDK's text); anything else stays an I/O failure.
     */
    static RuntimeException failure(Path p, IOException e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String type = t.getClass().getSimpleName(), msg = String.valueOf(t.getMessage()).toLowerCase(java.util.Locale.ROOT);
            if (type.equals("NoAuthWithAWSException") || type.equals("NoAwsCredentialsException") || msg.contains("no aws credentials"))
                return new BadInputException("cannot access " + p + ": no S3 credentials; set fs.s3a.access.key and fs.s3a.secret.key"
                        + " (spark-submit: --conf spark.hadoop.fs.s3a.access.key=...) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", e);
        }
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof java.nio.file.AccessDeniedException || t.getClass().getSimpleName().equals("AccessControlException"))
                return new BadInputException("cannot access " + p + ": permission denied ("
                        + String.valueOf(t.getMessage()).lines().findFirst().orElse("").strip() + ")", e);
        }
        return new UncheckedIOException(e);
    }

    /** Total bytes of a file or of every file under a directory. */
    public long totalBytes(Path p) {
        try {
            return fs(p).getContentSummary(p).getLength();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public FileStatus[] list(Path dir) {
        try {
            return fs(dir).listStatus(dir);
        } catch (IOException e) {
            throw failure(dir, e);
        }
    }

    /** Opens a file; a missing one is bad input naming {@code what}. */
    public InputStream open(Path p, String what) {
        try {
            return fs(p).open(p);
        } catch (java.io.FileNotFoundException e) {
            throw new BadInputException(what + " " + p + " does not exist");
        } catch (IOException e) {
            throw failure(p, e);
        }
    }

    public byte[] readAll(Path p, String what) {
        try (InputStream in = open(p, what)) {
            return in.readAllBytes();
        } catch (org.apache.hadoop.fs.ChecksumException e) {
            throw new BadInputException(what + " " + p + " is corrupt (filesystem checksum error)", e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public void write(Path p, byte[] bytes) {
        try (OutputStream out = fs(p).create(p, false)) {
            out.write(bytes);
        } catch (IOException e) {
            RuntimeException f = failure(p, e);
            if (f instanceof BadInputException) throw f;
            throw new UncheckedIOException("cannot write " + p + ": " + e.getMessage(), e);
        } catch (org.apache.hadoop.fs.FSError e) { // the local filesystem's way to say "disk full" or "I/O error"
            throw new UncheckedIOException("cannot write " + p + ": " + e.getCause().getMessage(),
                    e.getCause() instanceof IOException io ? io : new IOException(e.getCause()));
        }
    }

    /**
     * Fails fast, before any work, when nothing can be written at {@code out}: writes and removes a hidden probe file
     * in the nearest existing ancestor (nothing is created when the probe fails).
     */
    public void checkWritable(Path out) {
        Path dir = out.getParent();
        while (dir != null && !exists(dir)) dir = dir.getParent();
        if (dir == null) return;
        Path probe = new Path(dir, ".squeeze-probe-" + java.util.UUID.randomUUID());
        try {
            write(probe, new byte[]{1});
        } catch (UncheckedIOException | BadInputException e) {
            try {
                if (exists(probe)) delete(probe);
            } catch (RuntimeException ignored) {
                // the probe's own failure is the one to report
            }
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) root = root.getCause();
            String why = String.valueOf(root.getMessage()).strip();
            int paren = why.lastIndexOf(" ("); // "/x/.squeeze-probe-… (Permission denied)" from the local filesystem
            if (why.endsWith(")") && paren >= 0) why = why.substring(paren + 2, why.length() - 1);
            throw new BadInputException("output " + out + " cannot be written: " + why, e);
        }
        delete(probe);
    }

    /**
     * Writes one file through a hidden sibling renamed into place, so readers never see it half-written; an
     * existing {@code target} is replaced only with {@code overwrite}, and only once the new bytes are complete.
     */
    public void replace(Path target, byte[] bytes, boolean overwrite) {
        Path tmp = Orphans.sibling(target, Orphans.TMP);
        mkdirs(target.getParent());
        Orphans.clean(this, target);
        write(tmp, bytes);
        Path old = null;
        if (exists(target)) {
            if (!overwrite) {
                delete(tmp);
                throw new BadInputException("output " + target + " exists; pass --overwrite to replace it");
            }
            old = Orphans.sibling(target, Orphans.OLD); // moved aside, as publish does, so a kill never loses both
            if (!rename(target, old)) {
                delete(tmp);
                throw new UncheckedIOException(new IOException("could not move the old " + target + " aside"));
            }
        }
        if (!rename(tmp, target)) {
            delete(tmp);
            if (old != null) rename(old, target);
            throw new UncheckedIOException(new IOException("could not move " + tmp + " to " + target));
        }
        if (old != null) delete(old);
    }

    public OutputStream create(Path p) {
        try {
            return fs(p).create(p, false);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + p + ": " + e.getMessage(), e);
        }
    }

    public void mkdirs(Path p) {
        try {
            if (!fs(p).mkdirs(p)) throw new IOException("mkdirs returned false");
        } catch (IOException e) {
            throw new BadInputException("cannot create directory " + p + ": " + e.getMessage(), e);
        }
    }

    public boolean rename(Path from, Path to) {
        try {
            return fs(from).rename(from, to);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public void delete(Path p) {
        try {
            fs(p).delete(p, true);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Whether renaming a directory on this filesystem is atomic (not on object stores, where it is a copy). */
    public boolean atomicRename(Path p) {
        String scheme = p.toUri().getScheme();
        return scheme == null || !(scheme.startsWith("s3") || scheme.equals("gs") || scheme.startsWith("wasb") || scheme.startsWith("abfs"));
    }

    /**
     * Writes a directory at {@code out} so that readers see it complete or not at all: where renaming is atomic
     * (local, HDFS) {@code fill} writes a hidden sibling that is renamed into place, the old directory (if any)
     * moved aside first and deleted after; on object stores {@code fill} writes in place — the old directory,
     * its {@code _SUCCESS} first, is removed just before — and a failure removes what was written ({@code fill}
     * must then write its completion marker last). An existing {@code out} is replaced only with {@code overwrite}.
     */
    public void publish(Path out, boolean overwrite, java.util.function.Consumer<Path> fill) {
        Path parent = out.getParent();
        mkdirs(parent);
        FaultPoint.reach(FaultPoint.BEFORE_WRITE);
        if (!atomicRename(out)) {
            if (exists(out)) {
                if (!overwrite) throw new io.squeeze.core.BadInputException("output " + out + " exists; pass --overwrite to replace it");
                Path success = new Path(out, "_SUCCESS");
                if (exists(success)) delete(success);
                delete(out);
            }
            try {
                fill.accept(out);
            } catch (RuntimeException e) {
                try {
                    delete(out);
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
            return;
        }
        Orphans.clean(this, out);
        Path tmp = Orphans.sibling(out, Orphans.TMP);
        try {
            fill.accept(tmp);
            FaultPoint.reach(FaultPoint.BEFORE_RENAME);
            Path old = null;
            if (exists(out)) {
                if (!overwrite) throw new io.squeeze.core.BadInputException("output " + out + " exists; pass --overwrite to replace it");
                old = Orphans.sibling(out, Orphans.OLD);
                if (!rename(out, old)) throw new IllegalStateException("could not move the old " + out + " aside");
            }
            if (!rename(tmp, out)) {
                if (old != null) rename(old, out);
                throw new IllegalStateException("could not move " + tmp + " to " + out);
            }
            FaultPoint.reach(FaultPoint.AFTER_PUBLISH);
            if (old != null) delete(old);
        } finally {
            if (exists(tmp)) delete(tmp);
        }
    }

    public String sha256(Path p, String what) {
        try (InputStream in = open(p, what)) {
            return sha256(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(digest().digest(bytes));
    }

    public static String sha256(InputStream in) throws IOException {
        MessageDigest md = digest();
        try (DigestInputStream d = new DigestInputStream(in, md)) {
            d.transferTo(OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads a stream fully (a helper for small files). */
    public static byte[] drain(InputStream in) throws IOException {
        ByteArrayOutputStream bo = new ByteArrayOutputStream();
        in.transferTo(bo);
        return bo.toByteArray();
    }
}
