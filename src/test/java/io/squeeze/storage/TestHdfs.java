package io.squeeze.storage;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

import java.io.File;

/** A one-datanode MiniDFSCluster in this JVM on free loopback ports, its storage under {@code target/}. */
final class TestHdfs {
    private TestHdfs() {}

    static MiniDFSCluster start(String name) throws Exception {
        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, new File("target/" + name + "-" + System.nanoTime()).getAbsolutePath());
        for (String k : new String[]{"dfs.namenode.http-address", "dfs.datanode.http.address", "dfs.datanode.address", "dfs.datanode.ipc.address"})
            conf.set(k, "127.0.0.1:0");
        MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
        cluster.waitActive();
        return cluster;
    }
}
