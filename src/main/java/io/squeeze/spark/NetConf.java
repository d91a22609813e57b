package io.squeeze.spark;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.Serializable;

/**
 * The configuration of a network {@link LocalSgd} trains (either of DL4J's two kinds), Java-serialized, as the workers
 * get it by broadcast: with the training's id and the configuration's version, under which an executor keeps each
 * worker's network between rounds and epochs ({@link WorkerRound}).
 */
record NetConf(byte[] conf, String training, int version) implements Serializable {
    /**
     * The network's configuration, serialized with its iteration and epoch counts at 0: a worker's counts come
     * from the round's {@link LocalSgd.State}, so two epochs of an unchanged configuration give the same bytes.
     */
    static byte[] conf(Model net) {
        Serializable conf;
        if (net instanceof ComputationGraph g) {
            var c = g.getConfiguration().clone();
            c.setIterationCount(0);
            c.setEpochCount(0);
            conf = c;
        } else {
            var c = ((MultiLayerNetwork) net).getLayerWiseConfigurations().clone();
            c.setIterationCount(0);
            c.setEpochCount(0);
            conf = c;
        }
        return org.apache.commons.lang3.SerializationUtils.serialize(conf);
    }

    Model build(INDArray params) {
        Object conf = org.apache.commons.lang3.SerializationUtils.deserialize(this.conf);
        if (conf instanceof org.deeplearning4j.nn.conf.ComputationGraphConfiguration c) {
            ComputationGraph g = new ComputationGraph(c);
            g.init(params, true);
            return g;
        }
        MultiLayerNetwork n = new MultiLayerNetwork((org.deeplearning4j.nn.conf.MultiLayerConfiguration) conf);
        n.init(params, true);
        return n;
    }
}
