package io.squeeze.cli;

import io.squeeze.search.Sensitivity;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;

/** The charts users look at (JFreeChart, drawn headless to PNG): sensitivity curves, a run's frontier, per-layer bars. */
final class Charts {
    static final int W = 900, H = 480;

    static {
        System.setProperty("java.awt.headless", "true");
    }

    private Charts() {}

    static byte[] png(JFreeChart c) {
        c.setBackgroundPaint(Color.WHITE);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try {
            ChartUtils.writeChartAsPNG(b, c, W, H);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return b.toByteArray();
    }

    /** Accuracy against level, one line per layer, the unchanged model's accuracy as a dashed line. */
    static byte[] sensitivity(Sensitivity s) {
        XYSeriesCollection d = new XYSeriesCollection();
        for (Sensitivity.LayerCurve l : s.layers()) {
            XYSeries x = new XYSeries("layer " + l.index() + " " + l.name() + " (" + l.params() + " weights)");
            for (Sensitivity.Point p : l.curve()) x.add(p.level(), p.accuracy());
            d.addSeries(x);
        }
        String xLabel = switch (s.technique()) {
            case "prune" -> "fraction of the layer's weights pruned";
            case "quantize" -> "bits per weight";
            default -> "rank / full rank";
        };
        JFreeChart c = ChartFactory.createXYLineChart("Sensitivity (" + s.technique() + ", one layer at a time, no fine-tuning)", xLabel,
                "accuracy on " + s.data(), d, PlotOrientation.VERTICAL, true, false, false);
        XYPlot p = c.getXYPlot();
        p.setBackgroundPaint(Color.WHITE);
        p.setRangeGridlinePaint(Color.LIGHT_GRAY);
        p.setDomainGridlinePaint(Color.LIGHT_GRAY);
        p.setRenderer(new XYLineAndShapeRenderer(true, true));
        ValueMarker base = new ValueMarker(s.baseline().accuracy(), Color.DARK_GRAY,
                new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 1f, new float[]{6f, 4f}, 0f));
        base.setLabel("unchanged " + String.format(java.util.Locale.ROOT, "%.4f", s.baseline().accuracy()));
        base.setLabelAnchor(org.jfree.chart.ui.RectangleAnchor.BOTTOM_LEFT);
        base.setLabelTextAnchor(org.jfree.chart.ui.TextAnchor.TOP_LEFT);
        p.addRangeMarker(base);
        return png(c);
    }

    /** Accuracy against stored bytes for every candidate (stages, trials): the run's frontier. */
    static byte[] frontier(String title, Map<String, double[]> points) {
        XYSeriesCollection d = new XYSeriesCollection();
        for (Map.Entry<String, double[]> e : points.entrySet()) {
            XYSeries x = new XYSeries(e.getKey());
            x.add(e.getValue()[0] / 1024.0, e.getValue()[1]);
            d.addSeries(x);
        }
        JFreeChart c = ChartFactory.createScatterPlot(title, "stored kB (log scale)", "accuracy", d, PlotOrientation.VERTICAL, true, false, false);
        XYPlot p = c.getXYPlot();
        p.setBackgroundPaint(Color.WHITE);
        org.jfree.chart.axis.LogAxis x = new org.jfree.chart.axis.LogAxis("stored kB (log scale)");
        x.setSmallestValue(0.1);
        x.setNumberFormatOverride(new java.text.DecimalFormat("#,##0.#"));
        p.setDomainAxis(x);
        ((org.jfree.chart.axis.NumberAxis) p.getRangeAxis()).setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(false, true);
        for (int i = 0; i < d.getSeriesCount(); i++) r.setSeriesShape(i, new java.awt.geom.Ellipse2D.Double(-6, -6, 12, 12));
        r.setDefaultItemLabelGenerator((ds, series, item) -> String.valueOf(ds.getSeriesKey(series)));
        r.setDefaultItemLabelsVisible(true);
        p.setRenderer(r);
        p.setRangeGridlinePaint(Color.LIGHT_GRAY);
        p.setDomainGridlinePaint(Color.LIGHT_GRAY);
        return png(c);
    }

    /** One bar per layer and series (e.g. sparsity per stage). */
    static byte[] bars(String title, String valueLabel, List<String> layers, Map<String, double[]> series) {
        DefaultCategoryDataset d = new DefaultCategoryDataset();
        for (Map.Entry<String, double[]> e : series.entrySet())
            for (int i = 0; i < layers.size(); i++) d.addValue(e.getValue()[i], e.getKey(), layers.get(i));
        JFreeChart c = ChartFactory.createBarChart(title, "layer", valueLabel, d, PlotOrientation.VERTICAL, true, false, false);
        CategoryPlot p = c.getCategoryPlot();
        p.setBackgroundPaint(Color.WHITE);
        p.setRangeGridlinePaint(Color.LIGHT_GRAY);
        boolean allZero = series.values().stream().flatMapToDouble(java.util.Arrays::stream).allMatch(v -> v == 0);
        if (allZero) p.getRangeAxis().setRange(0, 1); // JFreeChart would zoom into ±1e-8 around the zeros
        if (layers.stream().mapToInt(String::length).max().orElse(0) * layers.size() > 120) { // long names (a graph's vertices): slanted, whole
            p.getDomainAxis().setCategoryLabelPositions(org.jfree.chart.axis.CategoryLabelPositions.UP_45);
            p.getDomainAxis().setMaximumCategoryLabelWidthRatio(4f);
        }
        return png(c);
    }
}
