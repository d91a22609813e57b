package io.squeeze.storage;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

import java.io.File;

/** A MiniDFSCluster (one datanode unless told) in this JVM on free loopback ports, its storage under {@code target/}. */
public final class TestHdfs {
    private TestHdfs() {}

    static MiniDFSCluster start(String name) throws Exception {
        return start(name, 1);
    }

    /** With {@code datanodes} datanodes; {@code hdfs://127.0.0.1:PORT} reaches it from other JVMs too. */
    public static MiniDFSCluster start(String name, int datanodes) throws Exception {
        return start(new File("target/" + name + "-" + System.nanoTime()), datanodes, 0);
    }

    /** Storage under {@code dir} (formatted anew), the NameNode on {@code port} (0: a free one). */
    public static MiniDFSCluster start(File dir, int datanodes, int port) throws Exception {
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, dir.getAbsolutePath());
        for (String k : new String[]{"dfs.namenode.http-address", "dfs.datanode.http.address", "dfs.datanode.address", "dfs.datanode.ipc.address"})
            conf.set(k, "127.0.0.1:0");
        MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf).nameNodePort(port).numDataNodes(datanodes).build();
        cluster.waitActive();
        return cluster;
    }
}
