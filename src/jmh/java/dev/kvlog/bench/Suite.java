package dev.kvlog.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.HdrHistogram.Histogram;

/**
 * KVLog side by side with its peers, in one run, on one machine, printing one table.
 *
 * <p>Workloads (16-byte keys, 100-byte values, every written value new so no engine can skip a
 * write): durable set at 1, 8 and 64 writer threads (throughput and latency percentiles from
 * HdrHistogram); point get at 1 and 2 threads over 100k entries; a 90/10 get/set mix on 8 threads;
 * reopen plus reading every entry of 100k and 1M-entry stores; and KVLog's heap per entry.
 *
 * <p>Run: {@code mvn -Pbench -DskipTests test-compile exec:exec} (about 6 minutes). Options as
 * system properties in {@code -Dbench.args}: {@code -Dseconds=3}, {@code -Dengines=KVLog,RocksDB}.
 */
public final class Suite {
  static final int KEYS = 100_000;
  static final String PAD = "v".repeat(100);
  static final double SECONDS = Double.parseDouble(System.getProperty("seconds", "3"));
  static final String ONLY = System.getProperty("engines", "");
  static final AtomicLong SEQUENCE = new AtomicLong();

  final Path root;
  final String[] keys = new String[KEYS];
  final Map<String, Map<String, String>> table = new LinkedHashMap<>(); // row -> engine -> cell
  final Map<String, Double> figures = new LinkedHashMap<>(); // for the ratios

  Suite(Path root) {
    this.root = root;
    for (int i = 0; i < KEYS; i++) {
      keys[i] = key(i);
    }
  }

  static String key(int i) {
    return String.format("key-%012d", i);
  }

  /** A 100-char value never written before. */
  static String freshValue() {
    String seq = Long.toString(SEQUENCE.incrementAndGet());
    return seq + PAD.substring(seq.length());
  }

  interface Factory {
    Engine open(Path dir) throws Exception;
  }

  final Map<String, Factory> engines = new LinkedHashMap<>();

  {
    engines.put("append+force", Engine.FloorEngine::new);
    engines.put("KVLog per-op", dir -> new Engine.KVLogEngine(dir, false));
    engines.put("KVLog group", dir -> new Engine.KVLogEngine(dir, true));
    engines.put("SQLite raw", Engine.SqliteEngine::new);
    engines.put("RocksDB sync", Engine.RocksEngine::new);
    engines.put("LMDB", Engine.LmdbEngine::new);
    engines.put("H2 MVStore", Engine.MvStoreEngine::new);
    engines.put("KVLog PostgreSQL", Engine.PostgresEngine::new);
  }

  public static void main(String[] args) throws Exception {
    Path root = Files.createDirectories(Path.of("target", "bench"));
    Suite suite = new Suite(Files.createTempDirectory(root, "run-"));
    long start = System.nanoTime();
    try {
      suite.run();
    } finally {
      deleteTree(suite.root);
    }
    String report = suite.report((System.nanoTime() - start) / 1e9);
    System.out.println(report);
    Files.writeString(root.resolve("results.md"), report);
    System.out.println("(also written to " + root.resolve("results.md") + ")");
  }

  void run() throws Exception {
    for (Map.Entry<String, Factory> e : engines.entrySet()) {
      String name = e.getKey();
      if (!ONLY.isEmpty() && Arrays.stream(ONLY.split(",")).noneMatch(name::contains)) {
        continue;
      }
      System.err.println("== " + name);
      Path dir = Files.createDirectories(root.resolve(name.replaceAll("[^A-Za-z0-9]", "_")));
      Engine opened;
      try {
        opened = e.getValue().open(dir);
      } catch (Exception unavailable) {
        System.err.println("  skipped: " + unavailable);
        continue;
      }
      try (Engine engine = opened) {
        for (int writers : new int[] {1, 8, 64}) {
          if (writers > 1 && name.equals("append+force")) {
            continue;
          }
          durableSets(engine, writers);
        }
        if (engine.readsSupported()) {
          Map<String, String> data = new LinkedHashMap<>();
          for (String k : keys) {
            data.put(k, freshValue());
          }
          engine.bulkLoad(data);
          gets(engine, 1);
          gets(engine, 2);
          mix(engine, 8);
        }
      }
      if (!name.equals("append+force")) {
        for (int size : new int[] {100_000, 1_000_000}) {
          reopen(e.getValue(), name, size);
        }
      }
      deleteTree(dir);
    }
  }

  // ---- workloads ----

  void durableSets(Engine engine, int writers) throws Exception {
    Histogram all = new Histogram(3_600_000_000L, 3);
    long ops =
        timed(
            writers,
            SECONDS,
            (histogram) -> {
              ThreadLocalRandom r = ThreadLocalRandom.current();
              String k = keys[r.nextInt(KEYS)];
              String v = freshValue();
              long t0 = System.nanoTime();
              engine.set(k, v);
              histogram.recordValue((System.nanoTime() - t0) / 1000);
            },
            all);
    double rate = ops / SECONDS;
    String row = "durable set, " + writers + (writers == 1 ? " writer" : " writers");
    cell(row + " (ops/s)", engine.name, fmt(rate));
    cell(
        row + " p50/p99/p99.9 (µs)",
        engine.name,
        all.getValueAtPercentile(50)
            + " / "
            + all.getValueAtPercentile(99)
            + " / "
            + all.getValueAtPercentile(99.9));
    figures.put(engine.name + " set" + writers, rate);
    figures.put(engine.name + " set" + writers + " p50", (double) all.getValueAtPercentile(50));
  }

  void gets(Engine engine, int threads) throws Exception {
    long ops =
        timed(
            threads,
            SECONDS,
            (h) -> {
              if (engine.get(keys[ThreadLocalRandom.current().nextInt(KEYS)]) == null) {
                throw new AssertionError("missing key in " + engine.name);
              }
            },
            null);
    double rate = ops / SECONDS;
    cell(
        "point get, " + threads + (threads == 1 ? " thread" : " threads") + " (ops/s)",
        engine.name,
        fmt(rate));
    figures.put(engine.name + " get" + threads, rate);
  }

  void mix(Engine engine, int threads) throws Exception {
    long ops =
        timed(
            threads,
            SECONDS,
            (h) -> {
              ThreadLocalRandom r = ThreadLocalRandom.current();
              String k = keys[r.nextInt(KEYS)];
              if (r.nextInt(10) == 0) {
                engine.set(k, freshValue());
              } else {
                engine.get(k);
              }
            },
            null);
    cell("90% get / 10% set, " + threads + " threads (ops/s)", engine.name, fmt(ops / SECONDS));
  }

  void reopen(Factory factory, String name, int size) throws Exception {
    Path dir =
        Files.createDirectories(root.resolve("load-" + name.replaceAll("[^A-Za-z0-9]", "_")));
    Map<String, String> data = new LinkedHashMap<>(size * 2);
    for (int i = 0; i < size; i++) {
      data.put(key(i), freshValue());
    }
    long[] nanos = new long[3];
    double heapPerEntry = -1;
    long nativeScan = Long.MAX_VALUE;
    try (Engine engine = factory.open(dir)) {
      engine.bulkLoad(data);
      data = null;
      for (int i = 0; i < nanos.length; i++) {
        long t0 = System.nanoTime();
        long n = engine.reopenAndReadAll();
        nanos[i] = System.nanoTime() - t0;
        if (n != size) {
          throw new AssertionError(name + " read " + n + " entries, expected " + size);
        }
        if (engine instanceof Engine.KVLogEngine) {
          heapPerEntry = ((Engine.KVLogEngine) engine).heapPerEntry(size);
        }
        if (engine instanceof Engine.SqliteEngine) {
          nativeScan = Math.min(nativeScan, ((Engine.SqliteEngine) engine).nativeScanNanos());
        }
      }
    }
    deleteTree(dir);
    Arrays.sort(nanos);
    double seconds = nanos[1] / 1e9; // median of 3
    String label = size == 1_000_000 ? "1M" : "100k";
    cell(
        "reopen + read " + label + " entries (s, median of 3)",
        name,
        String.format("%.3f", seconds));
    figures.put(name + " load" + label, seconds);
    if (nativeScan != Long.MAX_VALUE) {
      cell(
          "SQLite native full scan " + label + " (s)",
          name,
          String.format("%.3f", nativeScan / 1e9));
      figures.put("native scan " + label, nativeScan / 1e9);
    }
    if (heapPerEntry > 0 && size == 1_000_000) {
      cell("heap per entry, bytes (raw key+value: 116)", name, String.format("%.0f", heapPerEntry));
      figures.put(name + " heap", heapPerEntry);
    }
  }

  // ---- machinery ----

  interface Op {
    void run(Histogram h) throws Exception;
  }

  /** Runs {@code op} on {@code threads} threads: 1 s warm-up, then {@code seconds} counted. */
  static long timed(int threads, double seconds, Op op, Histogram merged) throws Exception {
    AtomicLong count = new AtomicLong();
    CountDownLatch ready = new CountDownLatch(threads);
    long warmUntil = System.nanoTime() + 1_000_000_000L + threads * 5_000_000L;
    long endAt = warmUntil + (long) (seconds * 1e9);
    List<Thread> list = new ArrayList<>();
    List<Histogram> histograms = new ArrayList<>();
    Throwable[] failure = new Throwable[1];
    for (int t = 0; t < threads; t++) {
      Histogram h = new Histogram(3_600_000_000L, 3);
      Histogram discard = new Histogram(3_600_000_000L, 3); // warm-up latencies
      histograms.add(h);
      Thread thread =
          new Thread(
              () -> {
                ready.countDown();
                try {
                  long n = 0;
                  for (long now; (now = System.nanoTime()) < endAt; ) {
                    boolean counted = now >= warmUntil;
                    op.run(counted ? h : discard);
                    if (counted) {
                      n++;
                    }
                  }
                  count.addAndGet(n);
                } catch (Throwable e) {
                  failure[0] = e;
                }
              });
      thread.start();
      list.add(thread);
    }
    for (Thread t : list) {
      t.join();
    }
    if (failure[0] != null) {
      throw new IllegalStateException("benchmark thread failed", failure[0]);
    }
    if (merged != null) {
      histograms.forEach(merged::add);
    }
    return count.get();
  }

  static long usedHeap() {
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  void cell(String row, String engine, String value) {
    table.computeIfAbsent(row, r -> new LinkedHashMap<>()).put(engine, value);
    System.err.println("  " + row + ": " + value);
  }

  static String fmt(double rate) {
    if (rate >= 1e6) {
      return String.format("%.2fM", rate / 1e6);
    }
    if (rate >= 1e3) {
      return String.format("%.1fk", rate / 1e3);
    }
    return String.format("%.0f", rate);
  }

  String report(double elapsedSeconds) throws IOException {
    List<String> columns = new ArrayList<>(engines.keySet());
    columns.removeIf(c -> table.values().stream().noneMatch(m -> m.containsKey(c)));
    StringBuilder out = new StringBuilder();
    out.append("| workload | ").append(String.join(" | ", columns)).append(" |\n");
    out.append("|---|").append("---|".repeat(columns.size())).append('\n');
    table.forEach(
        (row, cells) -> {
          out.append("| ").append(row);
          for (String c : columns) {
            out.append(" | ").append(cells.getOrDefault(c, "—"));
          }
          out.append(" |\n");
        });
    out.append("\nRatios (same run):\n");
    ratio(
        out,
        "KVLog set p50, 1 writer / append+force p50 (target ≤ 1.1)",
        "KVLog group set1 p50",
        "append+force set1 p50");
    ratio(
        out,
        "KVLog set p50, 1 writer / SQLite raw p50",
        "KVLog group set1 p50",
        "SQLite raw set1 p50");
    ratio(
        out,
        "KVLog group, 8 writers / RocksDB sync, 8 writers (target ≥ 1.5)",
        "KVLog group set8",
        "RocksDB sync set8");
    ratio(
        out,
        "KVLog group, 64 writers / KVLog group, 8 writers (keeps scaling if > 1)",
        "KVLog group set64",
        "KVLog group set8");
    ratio(out, "KVLog group / KVLog per-op, 8 writers", "KVLog group set8", "KVLog per-op set8");
    ratio(out, "KVLog group / KVLog per-op, 1 writer", "KVLog group set1", "KVLog per-op set1");
    ratio(
        out,
        "KVLog get, 1 thread / RocksDB get (target ≥ 20)",
        "KVLog group get1",
        "RocksDB sync get1");
    ratio(
        out,
        "KVLog reopen+load 1M / SQLite native scan (target ≤ 2)",
        "KVLog group load1M",
        "native scan 1M");
    ratio(
        out, "KVLog heap per entry / raw key+value bytes (target ≤ 2.5)", "KVLog group heap", null);
    out.append(
        String.format(
            "%nJDK %s (%s), %d cores, %s; %.0f s in all.%n",
            System.getProperty("java.version"),
            System.getProperty("java.vm.name"),
            Runtime.getRuntime().availableProcessors(),
            System.getProperty("os.name") + " " + System.getProperty("os.arch"),
            elapsedSeconds));
    return out.toString();
  }

  void ratio(StringBuilder out, String label, String a, String b) {
    Double x = figures.get(a);
    Double y = b == null ? Double.valueOf(116) : figures.get(b);
    if (x != null && y != null && y > 0) {
      out.append(String.format("- %s: %.2f%n", label, x / y));
    }
  }

  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
