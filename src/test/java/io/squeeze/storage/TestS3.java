package io.squeeze.storage;

import java.io.File;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * s3proxy (filesystem blobstore) as a child process on 127.0.0.1 with one bucket, reached through Hadoop's S3A
 * exactly as a cluster reaches S3: {@link #s3a()} is the S3A configuration for it.
 */
public final class TestS3 implements AutoCloseable {
    public static final String BUCKET = "squeeze-test";
    private final Process proxy;
    private final int port;

    private TestS3(Process proxy, int port) {
        this.proxy = proxy;
        this.port = port;
    }

    public static TestS3 start() throws Exception {
        int port;
        try (ServerSocket ss = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = ss.getLocalPort();
        }
        File dir = new File("target/s3proxy-fs-" + System.nanoTime()).getAbsoluteFile();
        if (!new File(dir, BUCKET).mkdirs()) throw new IllegalStateException("cannot create " + dir);
        File props = new File(dir.getParentFile(), dir.getName() + ".properties");
        Files.writeString(props.toPath(), String.join("\n", "s3proxy.endpoint=http://127.0.0.1:" + port,
                "s3proxy.authorization=aws-v2-or-v4", "s3proxy.identity=squeeze-access", "s3proxy.credential=squeeze-secret",
                "jclouds.provider=filesystem", "jclouds.filesystem.basedir=" + dir.getPath(), ""), StandardCharsets.UTF_8);
        Process proxy = new ProcessBuilder(System.getProperty("java.home") + "/bin/java", "-Xmx256m", "-jar", "target/s3proxy/s3proxy.jar",
                "--properties", props.getPath()).redirectErrorStream(true).redirectOutput(new File(dir.getPath() + ".log")).start();
        long deadline = System.currentTimeMillis() + 60_000;
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return new TestS3(proxy, port);
            } catch (Exception e) {
                if (!proxy.isAlive()) throw new IllegalStateException("s3proxy died, see " + dir + ".log");
                if (System.currentTimeMillis() > deadline) {
                    proxy.destroyForcibly();
                    throw new IllegalStateException("s3proxy did not start, see " + dir + ".log");
                }
                Thread.sleep(100);
            }
        }
    }

    /** {@code s3a://BUCKET} */
    public String bucket() {
        return "s3a://" + BUCKET;
    }

    public Map<String, String> s3a() {
        return s3a(port);
    }

    /** S3A's settings for s3proxy on {@code port}. */
    static Map<String, String> s3a(int port) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("fs.s3a.endpoint", "http://127.0.0.1:" + port);
        m.put("fs.s3a.endpoint.region", "us-east-1");
        m.put("fs.s3a.path.style.access", "true");
        m.put("fs.s3a.connection.ssl.enabled", "false");
        m.put("fs.s3a.access.key", "squeeze-access");
        m.put("fs.s3a.secret.key", "squeeze-secret");
        m.put("fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider");
        m.put("fs.s3a.change.detection.version.required", "false");
        m.put("fs.s3a.attempts.maximum", "3");
        m.put("fs.s3a.retry.limit", "3");
        // a stalled request is retried after 20 s instead of S3A's default 200 s
        m.put("fs.s3a.connection.timeout", "20000");
        m.put("fs.s3a.connection.establish.timeout", "5000");
        // keep directory markers: S3A otherwise bulk-deletes parent markers after each write (DeleteObjects), a call
        // s3proxy's filesystem store can leave unanswered; keeping them is also S3A's advice for speed
        m.put("fs.s3a.directory.marker.retention", "keep");
        m.put("fs.s3a.multiobjectdelete.enable", "false");
        return m;
    }

    @Override
    public void close() throws InterruptedException {
        proxy.destroy();
        proxy.waitFor();
    }
}
