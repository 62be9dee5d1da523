package dev.kvlog.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.Paint;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Rectangle2D;
import java.io.IOException;
import java.nio.file.Path;
import java.text.FieldPosition;
import java.text.NumberFormat;
import java.text.ParsePosition;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.LegendItem;
import org.jfree.chart.LegendItemCollection;
import org.jfree.chart.axis.AxisState;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTick;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.axis.TickType;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.axis.ValueTick;
import org.jfree.chart.labels.StandardCategoryItemLabelGenerator;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.CombinedRangeXYPlot;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.chart.ui.RectangleAnchor;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The suite's figures as PNG charts in {@code target/bench}: latency percentiles against writers
 * per engine, throughput against writers, and cost against store size. Log scales wherever the
 * values span decades. Rendered headless (the bench profile passes {@code java.awt.headless}).
 */
final class Charts {
  static final Color[] PALETTE = {
    new Color(0x999999), // append floor
    new Color(0x555555), // overwrite floor
    new Color(0x9ecae1), // KVLog per-op
    new Color(0x08519c), // KVLog group
    new Color(0x2ca02c), // SQLite raw
    new Color(0xd62728), // RocksDB
    new Color(0xff7f0e), // LMDB
    new Color(0x9467bd), // H2
    new Color(0x8c564b), // KVLog PostgreSQL
  };
  static final Color[] PERCENTILES = {
    new Color(0x08519c), new Color(0xff7f0e), new Color(0xd62728)
  };
  static final String[][] WORKLOADS = {
    {"set", "100k random keys"}, {"hot", "hot set of 1,000 keys"}
  };
  static final String SUBTITLE =
      "every set durable (fsynced) before it returns; 16-byte keys, 100-byte values, every value new;"
          + " one run, "
          + Runtime.getRuntime().availableProcessors()
          + " cores, JDK "
          + System.getProperty("java.version");

  final Suite suite;
  final Path dir;
  final List<String> engines;

  Charts(Suite suite, Path dir) {
    this.suite = suite;
    this.dir = dir;
    this.engines = new ArrayList<>(suite.engines.keySet());
  }

  List<Path> writeAll() throws IOException {
    List<Path> written = new ArrayList<>();
    for (String[] w : WORKLOADS) {
      save(
          latency(w[0], w[1]),
          "latency-" + (w[0].equals("set") ? "random100k" : "hot1k"),
          1800,
          620,
          written);
    }
    save(throughput(), "throughput", 1500, 650, written);
    save(growth(), "cost-vs-size", 1100, 1500, written);
    save(bounded(), "bounded-vs-rocksdb", 1300, 650, written);
    return written;
  }

  /**
   * Issue 15: KVLog's bounded cache against RocksDB's block cache, as KVLog's advantage from one
   * run (KVLog ÷ RocksDB for throughput, RocksDB ÷ KVLog for times, latencies and memory), bars
   * growing up (KVLog better) or down (RocksDB better) from 1 on a log axis.
   */
  JFreeChart bounded() {
    if (suite.bounded.ratios.isEmpty()) {
      return null;
    }
    DefaultCategoryDataset data = new DefaultCategoryDataset();
    double lo = 1;
    double hi = 1;
    for (Map.Entry<String, Double> r : suite.bounded.ratios.entrySet()) {
      data.addValue(r.getValue(), "KVLog's advantage", r.getKey());
      lo = Math.min(lo, r.getValue());
      hi = Math.max(hi, r.getValue());
    }
    LogAxis ratio = logAxis("KVLog's advantage (×, log scale; above 1: KVLog better)", 10);
    ratio.setRange(lo / 1.5, hi * 1.5);
    BarRenderer bars =
        new BarRenderer() {
          private static final long serialVersionUID = 1;

          @Override
          public Paint getItemPaint(int row, int column) {
            Number v = data.getValue(row, column);
            return v != null && v.doubleValue() < 1 ? PALETTE[5] : PALETTE[3];
          }
        };
    bars.setBase(1.0);
    bars.setSeriesPaint(0, PALETTE[3]);
    bars.setShadowVisible(false);
    bars.setBarPainter(new StandardBarPainter());
    bars.setDefaultItemLabelGenerator(
        new StandardCategoryItemLabelGenerator("{2}×", new java.text.DecimalFormat("0.00")));
    bars.setDefaultItemLabelsVisible(true);
    CategoryAxis workloads = new CategoryAxis(null);
    workloads.setCategoryLabelPositions(CategoryLabelPositions.UP_45);
    workloads.setTickLabelFont(new Font("SansSerif", Font.PLAIN, 12));
    CategoryPlot plot = new CategoryPlot(data, workloads, ratio, bars);
    plot.setBackgroundPaint(Color.WHITE);
    plot.setRangeGridlinePaint(new Color(0xdddddd));
    plot.setOutlinePaint(Color.GRAY);
    ValueMarker one = new ValueMarker(1.0);
    one.setPaint(Color.DARK_GRAY);
    one.setStroke(new BasicStroke(1.5f));
    plot.addRangeMarker(one);
    Bounded b = suite.bounded;
    JFreeChart chart =
        new JFreeChart(
            String.format(
                "Larger than the cache: %s entries, cache %.0f MB (10%% of the data) in each engine",
                Growth.label(Bounded.ENTRIES), b.cacheBytes / 1e6),
            new Font("SansSerif", Font.BOLD, 18),
            plot,
            false);
    chart.addSubtitle(
        new TextTitle(
            "throughput: KVLog ÷ RocksDB; open time, set p50 and memory: RocksDB ÷ KVLog;"
                + " blue: KVLog better, red: RocksDB better; one run, "
                + Runtime.getRuntime().availableProcessors()
                + " cores, JDK "
                + System.getProperty("java.version"),
            new Font("SansSerif", Font.PLAIN, 12)));
    chart.setBackgroundPaint(Color.WHITE);
    return chart;
  }

  private void save(JFreeChart chart, String name, int w, int h, List<Path> written)
      throws IOException {
    if (chart == null) {
      return;
    }
    Path file = dir.resolve(name + ".png");
    ChartUtils.saveChartAsPNG(file.toFile(), chart, w, h);
    written.add(file);
  }

  Double fig(String key) {
    return suite.figures.get(key);
  }

  Color color(String engine) {
    return PALETTE[Math.max(0, engines.indexOf(engine)) % PALETTE.length];
  }

  /** Small multiples: one panel per engine, p50/p99/p99.9 against writers, one shared log axis. */
  JFreeChart latency(String kind, String title) {
    ValueAxis latency = logAxis("latency (µs, log scale)", 10);
    CombinedRangeXYPlot plot = new CombinedRangeXYPlot(latency);
    plot.setGap(6);
    String[] percentiles = {"p50", "p99", "p99.9"};
    List<ValueMarker> floors = new ArrayList<>();
    for (String floor : engines) {
      Double p50 = fig(floor + " set1 p50");
      if (floor.endsWith("fdatasync") && p50 != null) {
        ValueMarker m = new ValueMarker(p50);
        m.setPaint(color(floor));
        m.setStroke(dashed(1.5f));
        m.setLabel(floor + " p50 " + Math.round(p50) + " µs");
        m.setLabelFont(new Font("SansSerif", Font.PLAIN, 11));
        boolean above =
            floors.isEmpty(); // the append floor's label above its line, the other below
        m.setLabelAnchor(above ? RectangleAnchor.TOP_RIGHT : RectangleAnchor.BOTTOM_RIGHT);
        m.setLabelTextAnchor(above ? TextAnchor.BOTTOM_RIGHT : TextAnchor.TOP_RIGHT);
        m.setLabelBackgroundColor(new Color(255, 255, 255, 0));
        floors.add(m);
      }
    }
    for (String engine : engines) {
      if (engine.endsWith("fdatasync")) {
        continue; // one thread only: drawn as reference lines in every panel instead
      }
      XYSeriesCollection data = new XYSeriesCollection();
      for (String p : percentiles) {
        XYSeries s = new XYSeries(p);
        for (int writers : Suite.WRITERS) {
          Double v = fig(engine + " " + kind + writers + " " + p);
          if (v != null) {
            s.add(writers, Math.max(1, v));
          }
        }
        data.addSeries(s);
      }
      if (data.getSeries(0).getItemCount() == 0) {
        continue;
      }
      XYLineAndShapeRenderer r = renderer();
      for (int i = 0; i < percentiles.length; i++) {
        r.setSeriesPaint(i, PERCENTILES[i]);
      }
      XYPlot sub = new XYPlot(data, writersAxis(engine), null, r);
      style(sub);
      for (ValueMarker m : floors) {
        if (!plot.getSubplots().isEmpty()) {
          m = new ValueMarker(m.getValue(), m.getPaint(), m.getStroke());
        }
        sub.addRangeMarker(m);
      }
      plot.add(sub, 1);
    }
    if (plot.getSubplots().isEmpty()) {
      return null;
    }
    double lo = Double.MAX_VALUE;
    double hi = 0;
    for (Object o : plot.getSubplots()) {
      XYSeriesCollection data = (XYSeriesCollection) ((XYPlot) o).getDataset();
      for (int i = 0; i < data.getSeriesCount(); i++) {
        lo = Math.min(lo, data.getSeries(i).getMinY());
        hi = Math.max(hi, data.getSeries(i).getMaxY());
      }
    }
    for (ValueMarker m : floors) {
      lo = Math.min(lo, m.getValue());
    }
    latency.setRange(lo / 1.6, hi * 1.4); // room for the floors' labels below the data
    LegendItemCollection legend = new LegendItemCollection();
    for (int i = 0; i < percentiles.length; i++) {
      legend.add(legendLine(percentiles[i], PERCENTILES[i], false));
    }
    if (!floors.isEmpty()) {
      legend.add(legendLine("floors' p50 at 1 writer (dashed)", Color.GRAY, true));
    }
    plot.setFixedLegendItems(legend);
    return chart("Durable set latency against writer threads, per engine: " + title, plot);
  }

  /** Throughput against writers, every engine, both workloads side by side. */
  JFreeChart throughput() {
    CombinedRangeXYPlot plot =
        new CombinedRangeXYPlot(logAxis("durable sets per second (log scale)", 10));
    plot.setGap(12);
    LegendItemCollection legend = new LegendItemCollection();
    for (String[] w : WORKLOADS) {
      XYSeriesCollection data = new XYSeriesCollection();
      XYLineAndShapeRenderer r = renderer();
      for (String engine : engines) {
        XYSeries s = new XYSeries(engine);
        for (int writers : Suite.WRITERS) {
          Double v = fig(engine + " " + w[0] + writers);
          if (v != null) {
            s.add(writers, v);
          }
        }
        if (s.getItemCount() > 0) {
          r.setSeriesPaint(data.getSeriesCount(), color(engine));
          data.addSeries(s);
          if (legend.getItemCount() < engines.size() && !legendHas(legend, engine)) {
            legend.add(legendLine(engine, color(engine), false));
          }
        }
      }
      if (data.getSeriesCount() == 0) {
        continue;
      }
      XYPlot sub = new XYPlot(data, writersAxis(w[1]), null, r);
      style(sub);
      plot.add(sub, 1);
    }
    if (plot.getSubplots().isEmpty()) {
      return null;
    }
    plot.setFixedLegendItems(legend);
    return chart("Durable set throughput against writer threads (floors: one thread only)", plot);
  }

  /** Cost against the number of entries in the store: one panel per cost, shared log x axis. */
  JFreeChart growth() {
    int[] sizes = suite.growth.sizes;
    ValueAxis entries = logAxis("entries in the store (log scale)", 10);
    // Explicit, so that a single size (-Dsizes=10M) still has a range to draw on.
    entries.setRange(
        Arrays.stream(sizes).min().orElse(1) / 1.6, Arrays.stream(sizes).max().orElse(1) * 1.6);
    CombinedDomainXYPlot plot = new CombinedDomainXYPlot(entries);
    plot.setGap(14);
    List<String> measured = new ArrayList<>();
    for (String e : engines) {
      if (Growth.ENGINES.contains(e)) {
        measured.add(e);
      }
    }
    Object[][] panels = {
      {"set p50, 1 writer (µs)", new String[] {"set1 p50"}, true, null},
      {"sets per second", new String[] {"set1", "set8"}, true, null},
      {"gets per second, 1 thread", new String[] {"get1"}, true, 10e6},
      {"startup: reopen + load (s)", new String[] {"load", "native scan"}, true, null},
      {"KVLog heap per entry (B)", new String[] {"heap"}, false, 232.0},
    };
    for (Object[] panel : panels) {
      String[] metrics = (String[]) panel[1];
      XYSeriesCollection data = new XYSeriesCollection();
      XYLineAndShapeRenderer r = renderer();
      for (String engine : measured) {
        for (int m = 0; m < metrics.length; m++) {
          XYSeries s = new XYSeries(engine + " " + metrics[m]);
          for (int size : sizes) {
            Double v = fig(Growth.key(engine, size, metrics[m]));
            if (v != null && v > 0) {
              s.add(size, v);
            }
          }
          if (s.getItemCount() > 0) {
            int i = data.getSeriesCount();
            r.setSeriesPaint(i, color(engine));
            if (m == 1) {
              r.setSeriesStroke(
                  i,
                  new BasicStroke(
                      2f,
                      BasicStroke.CAP_BUTT,
                      BasicStroke.JOIN_MITER,
                      10f,
                      new float[] {8f, 5f},
                      0f));
            }
            data.addSeries(s);
          }
        }
      }
      if (data.getSeriesCount() == 0) {
        continue;
      }
      boolean log = (Boolean) panel[2];
      Double goal = (Double) panel[3];
      ValueAxis y = log ? logAxis((String) panel[0], 10) : new NumberAxis((String) panel[0]);
      y.setLabelFont(new Font("SansSerif", Font.PLAIN, 13));
      // The range covers the data and the target line (auto-ranging would drop the target).
      double lo = goal == null ? Double.MAX_VALUE : goal;
      double hi = goal == null ? 0 : goal;
      for (int i = 0; i < data.getSeriesCount(); i++) {
        lo = Math.min(lo, data.getSeries(i).getMinY());
        hi = Math.max(hi, data.getSeries(i).getMaxY());
      }
      if (log) {
        y.setRange(lo / 1.4, hi * 1.4);
      } else {
        y.setRange(0, hi * 1.15);
      }
      XYPlot sub = new XYPlot(data, null, y, r);
      style(sub);
      if (goal != null) {
        ValueMarker target = new ValueMarker(goal);
        target.setPaint(Color.GRAY);
        target.setStroke(dashed(1f));
        target.setLabel(
            goal == 232.0 ? "target: ≤ 2× raw (232 B)" : "target: ≥ 10 M/s at 100k keys");
        target.setLabelFont(new Font("SansSerif", Font.PLAIN, 11));
        target.setLabelAnchor(RectangleAnchor.TOP_RIGHT);
        target.setLabelTextAnchor(TextAnchor.BOTTOM_RIGHT);
        sub.addRangeMarker(target);
      }
      plot.add(sub, 1);
    }
    if (plot.getSubplots().isEmpty()) {
      return null;
    }
    LegendItemCollection legend = new LegendItemCollection();
    for (String e : measured) {
      legend.add(legendLine(e, color(e), false));
    }
    legend.add(
        legendLine(
            "dashed: 8 writers (sets) / SQLite native scan (startup)", Color.DARK_GRAY, true));
    plot.setFixedLegendItems(legend);
    return chart("How cost grows with the store's size", plot);
  }

  // ---- styling ----

  private static JFreeChart chart(String title, XYPlot plot) {
    JFreeChart chart = new JFreeChart(title, new Font("SansSerif", Font.BOLD, 18), plot, true);
    chart.addSubtitle(new TextTitle(SUBTITLE, new Font("SansSerif", Font.PLAIN, 12)));
    chart.setBackgroundPaint(Color.WHITE);
    chart.getLegend().setItemFont(new Font("SansSerif", Font.PLAIN, 13));
    return chart;
  }

  private static void style(XYPlot plot) {
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(new Color(0xdddddd));
    plot.setRangeGridlinePaint(new Color(0xdddddd));
    plot.setDomainGridlinesVisible(true);
    plot.setRangeGridlinesVisible(true);
    plot.setOutlinePaint(Color.GRAY);
  }

  private static XYLineAndShapeRenderer renderer() {
    XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, true);
    r.setDefaultStroke(new BasicStroke(2f));
    r.setAutoPopulateSeriesStroke(false);
    r.setDefaultShape(new Ellipse2D.Double(-3.5, -3.5, 7, 7));
    r.setAutoPopulateSeriesShape(false);
    return r;
  }

  private static LogAxis writersAxis(String label) {
    LogAxis axis = new LogAxis(label + " — writers");
    axis.setBase(2);
    axis.setTickUnit(new NumberTickUnit(1), false, true); // 1, 2, 4 … 64
    axis.setNumberFormatOverride(new Si());
    axis.setRange(0.75, 85);
    axis.setLabelFont(new Font("SansSerif", Font.BOLD, 13));
    return axis;
  }

  private static LogAxis logAxis(String label, double base) {
    LogAxis axis = new NiceLogAxis(label);
    axis.setBase(base);
    axis.setNumberFormatOverride(new Si());
    axis.setSmallestValue(1e-4);
    axis.setLabelFont(new Font("SansSerif", Font.PLAIN, 13));
    return axis;
  }

  /**
   * A base-10 log axis ticked at round numbers: 1-2-3-5-7, 1-2-5 or decades × 10^k depending on how
   * many decades it spans (LogAxis alone ticks at even exponent steps: 126, 158, 200 …).
   */
  static final class NiceLogAxis extends LogAxis {
    private static final long serialVersionUID = 1;

    NiceLogAxis(String label) {
      super(label);
    }

    @Override
    public List<ValueTick> refreshTicks(
        Graphics2D g2, AxisState state, Rectangle2D dataArea, RectangleEdge edge) {
      double lo = Math.max(getLowerBound(), 1e-4);
      double hi = getUpperBound();
      double decades = Math.log10(hi / lo);
      double[] steps =
          decades < 1.3
              ? new double[] {1, 1.5, 2, 3, 5, 7}
              : decades < 4.5 ? new double[] {1, 2, 5} : new double[] {1};
      boolean vertical = RectangleEdge.isLeftOrRight(edge);
      TextAnchor anchor = vertical ? TextAnchor.CENTER_RIGHT : TextAnchor.TOP_CENTER;
      List<ValueTick> ticks = new ArrayList<>();
      NumberFormat format = getNumberFormatOverride();
      for (int k = (int) Math.floor(Math.log10(lo)); k <= (int) Math.ceil(Math.log10(hi)); k++) {
        for (double m : steps) {
          double v = m * Math.pow(10, k);
          if (v >= lo && v <= hi) {
            ticks.add(new NumberTick(TickType.MAJOR, v, format.format(v), anchor, anchor, 0.0));
          }
        }
      }
      return ticks;
    }
  }

  private static BasicStroke dashed(float width) {
    return new BasicStroke(
        width, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f);
  }

  private static LegendItem legendLine(String label, Paint paint, boolean dashed) {
    LegendItem item =
        new LegendItem(
            label,
            null,
            null,
            null,
            new java.awt.geom.Line2D.Double(-10, 0, 10, 0),
            dashed
                ? new BasicStroke(
                    2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f)
                : new BasicStroke(3f),
            paint);
    return item;
  }

  private static boolean legendHas(LegendItemCollection legend, String label) {
    for (int i = 0; i < legend.getItemCount(); i++) {
      if (legend.get(i).getLabel().equals(label)) {
        return true;
      }
    }
    return false;
  }

  /** Tick labels as 500, 2k, 10M, 0.05: no exponents, no long runs of zeros. */
  static final class Si extends NumberFormat {
    private static final long serialVersionUID = 1;

    @Override
    public StringBuffer format(double v, StringBuffer to, FieldPosition pos) {
      double a = Math.abs(v);
      if (a >= 999.5e3) {
        return to.append(trim(v / 1e6)).append('M');
      }
      if (a >= 999.5) {
        return to.append(trim(v / 1e3)).append('k');
      }
      return to.append(trim(v));
    }

    @Override
    public StringBuffer format(long v, StringBuffer to, FieldPosition pos) {
      return format((double) v, to, pos);
    }

    @Override
    public Number parse(String source, ParsePosition pos) {
      return null;
    }

    private static String trim(double v) {
      String s = String.format("%.3g", v);
      if (s.contains(".")) {
        s = s.replaceAll("0+$", "").replaceAll("\\.$", "");
      }
      return s;
    }
  }
}
