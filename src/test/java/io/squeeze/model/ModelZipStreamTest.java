package io.squeeze.model;

import io.squeeze.TestModels;
import io.squeeze.core.Storage;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ModelZipStreamTest {
    static final Storage ST = new Storage(new Configuration());

    @TempDir
    Path dir;

    static MultiLayerNetwork lenet() {
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.LeNet5(), 28 * 28, 10, new int[]{28, 28, 1},
                new Architectures.Hyper(5, 1e-3, 0), null));
        net.init();
        return net;
    }

    @Test
    void layoutIsWhereDl4jPutsEveryTensor() {
        for (MultiLayerNetwork net : List.of(TestModels.mlp(12, new int[]{7, 5}, 3, 4), lenet())) {
            ParamLayout layout = ParamLayout.of(net.getLayerWiseConfigurations());
            assertTrue(layout.contiguous(), layout.toString());
            assertEquals(net.numParams(), layout.total());
            float[] flat = net.params().dup().data().asFloat();
            int tensors = 0;
            for (ParamLayout.Slice s : layout.inTableOrder()) {
                float[] slice = java.util.Arrays.copyOfRange(flat, (int) s.offset(), (int) s.offset() + s.length());
                assertArrayEquals(Surgery.values(net, s.layer(), s.param()), s.toC(slice), s.toString());
                assertArrayEquals(slice, s.fromC(s.toC(slice)));
                assertArrayEquals(net.getLayer(s.layer()).getParam(s.param()).shape(), s.shape());
                tensors++;
            }
            assertEquals(net.paramTable().size(), tensors);
            // the table order is the order artifacts index tensors in: paramTable() of each layer
            var it = layout.inTableOrder().iterator();
            for (int i = 0; i < net.getLayers().length; i++)
                for (String k : net.getLayer(i).paramTable().keySet()) assertEquals(i + "_" + k, it.next().layer() + "_" + k);
        }
        // a convolution's bias comes first in its slice, and dense weights are column-major views
        String lenet = ParamLayout.of(lenet().getLayerWiseConfigurations()).toString();
        assertTrue(lenet.startsWith("0_b[1, 6]f@0 0_W[6, 1, 5, 5]c@6 2_b[1, 16]f@156"), lenet);
        assertTrue(ParamLayout.of(TestModels.mlp(12, new int[]{7}, 3, 4).getLayerWiseConfigurations()).toString()
                .startsWith("0_W[12, 7]f@0 0_b[1, 7]f@84"));
    }

    @Test
    void streamingCopyIsByteIdenticalToToZip() throws Exception {
        for (MultiLayerNetwork net : List.of(TestModels.mlp(12, new int[]{7, 5}, 3, 4), lenet())) {
            ModelMeta meta = TestModels.meta(784, 10);
            byte[] zip = ModelIO.toZip(net, meta);
            Path f = dir.resolve("m" + net.numParams() + ".zip");
            Files.write(f, zip);
            org.apache.hadoop.fs.Path p = ST.path(f.toString());
            ModelZipStream.Header h = ModelZipStream.read(ST, p);
            assertEquals(Storage.sha256(zip), h.sha256());
            assertEquals(zip.length, h.bytes());
            assertEquals(net.numParams(), h.count());
            assertTrue(h.isFloat());
            assertEquals(meta, h.meta());
            ParamLayout layout = ParamLayout.of(h.conf());
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (ModelZipStream.Coefficients in = ModelZipStream.Coefficients.open(ST, p, h.prefix().length);
                 ModelZipStream.Writer w = new ModelZipStream.Writer(out, h.conf(), h.meta(), h.prefix(), h.count())) {
                for (ParamLayout.Slice s : layout.inFlatOrder()) w.write(in.next(s.length()));
            }
            assertArrayEquals(zip, out.toByteArray());
        }
    }
}
