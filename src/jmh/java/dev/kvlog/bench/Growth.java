package dev.kvlog.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import org.HdrHistogram.Histogram;

/**
 * How cost grows with the store: for each size in {@code -Dsizes} (default 10k,100k,1M; add 10M for
 * the expensive point, about 2.5 GB of KVLog heap and minutes of bulk loading), a store is loaded
 * with that many entries, then measured: durable set p50 and throughput at 1 and 8 writers over all
 * its keys, get on 1 thread, reopen + load (startup), and KVLog's heap per entry. Also fills the
 * main table's "reopen + read" rows for every engine at 100k and 1M.
 */
final class Growth {
  /** The engines measured at every size; the others only get the reopen rows. */
  static final Set<String> ENGINES = Set.of("KVLog group", "SQLite raw", "RocksDB sync");

  static final double SECONDS = Double.parseDouble(System.getProperty("growth.seconds", "2"));

  final Suite suite;
  final int[] sizes = parseSizes(System.getProperty("sizes", "10k,100k,1M"));
  final Map<String, Map<Integer, String>> table = new LinkedHashMap<>(); // row -> size -> cell
  private String[] keys = new String[0];

  Growth(Suite suite) {
    this.suite = suite;
  }

  static int[] parseSizes(String spec) {
    return Arrays.stream(spec.split(","))
        .map(String::trim)
        .filter(s -> !s.isEmpty())
        .mapToInt(
            s -> {
              String u = s.toUpperCase();
              int scale = u.endsWith("M") ? 1_000_000 : u.endsWith("K") ? 1_000 : 1;
              String digits = scale == 1 ? u : u.substring(0, u.length() - 1);
              return Math.multiplyExact(Integer.parseInt(digits), scale);
            })
        .toArray();
  }

  static String label(int size) {
    if (size >= 1_000_000 && size % 1_000_000 == 0) {
      return size / 1_000_000 + "M";
    }
    return size >= 1_000 && size % 1_000 == 0 ? size / 1_000 + "k" : Integer.toString(size);
  }

  /** The first {@code size} keys, made once and shared by every engine (a get must not format). */
  String[] keys(int size) {
    if (keys.length < size) {
      String[] more = Arrays.copyOf(keys, size);
      for (int i = keys.length; i < size; i++) {
        more[i] = Suite.key(i);
      }
      keys = more;
    }
    return keys;
  }

  /** Loads {@code size} entries in chunks (the whole map at 10M would double the heap). */
  void load(Engine engine, int size) throws Exception {
    for (int from = 0; from < size; from += 100_000) {
      Map<String, String> chunk = new HashMap<>(200_000);
      for (int i = from; i < Math.min(size, from + 100_000); i++) {
        chunk.put(Suite.key(i), Suite.freshValue());
      }
      engine.bulkLoad(chunk);
    }
  }

  /** The full set of growth figures for one engine at one store size. */
  void measure(Suite.Factory factory, String name, int size) throws Exception {
    String[] all = keys(size);
    reopen(
        factory,
        name,
        size,
        engine -> {
          for (int writers : new int[] {1, 8}) {
            Histogram h = Suite.setLatencies(engine, writers, all, size, SECONDS);
            String w = writers == 1 ? "1 writer" : writers + " writers";
            put(name, "set p50, " + w + " (µs)", size, Long.toString(h.getValueAtPercentile(50)));
            put(name, "set, " + w + " (ops/s)", size, Suite.fmt(h.getTotalCount() / SECONDS));
            suite.figures.put(
                key(name, size, "set" + writers + " p50"), (double) h.getValueAtPercentile(50));
            suite.figures.put(key(name, size, "set" + writers), h.getTotalCount() / SECONDS);
          }
          long ops =
              Suite.timed(
                  1,
                  SECONDS,
                  (h) -> {
                    if (engine.get(all[ThreadLocalRandom.current().nextInt(size)]) == null) {
                      throw new AssertionError("missing key in " + name);
                    }
                  },
                  null);
          put(name, "get, 1 thread (ops/s)", size, Suite.fmt(ops / SECONDS));
          suite.figures.put(key(name, size, "get1"), ops / SECONDS);
        });
  }

  static String key(String engine, int size, String metric) {
    return engine + " n=" + size + " " + metric;
  }

  interface Work {
    void run(Engine engine) throws Exception;
  }

  /**
   * Loads a fresh store of {@code size} entries, runs {@code work} on it (if any), then times
   * reopen + read of every entry (median of 3; one run above 1M) and KVLog's heap per entry.
   */
  void reopen(Suite.Factory factory, String name, int size, Work work) throws Exception {
    Path dir =
        Files.createDirectories(suite.root.resolve("load-" + name.replaceAll("[^A-Za-z0-9]", "_")));
    long[] nanos = new long[size > 1_000_000 ? 1 : 3];
    double heapPerEntry = -1;
    long nativeScan = Long.MAX_VALUE;
    try (Engine engine = factory.open(dir)) {
      load(engine, size);
      if (work != null) {
        work.run(engine);
      }
      for (int i = 0; i < nanos.length; i++) {
        long t0 = System.nanoTime();
        long n = engine.reopenAndReadAll();
        nanos[i] = System.nanoTime() - t0;
        if (n != size) {
          throw new AssertionError(name + " read " + n + " entries, expected " + size);
        }
        if (engine instanceof Engine.SqliteEngine) {
          nativeScan = Math.min(nativeScan, ((Engine.SqliteEngine) engine).nativeScanNanos());
        }
      }
      if (engine instanceof Engine.KVLogEngine) {
        heapPerEntry = ((Engine.KVLogEngine) engine).heapPerEntry(size);
      }
    }
    Suite.deleteTree(dir);
    Arrays.sort(nanos);
    double seconds = nanos[nanos.length / 2] / 1e9;
    String label = label(size);
    boolean mainRow = size == 100_000 || size == 1_000_000;
    if (mainRow) {
      suite.cell(
          "reopen + read " + label + " entries (s, median of 3)",
          name,
          String.format("%.3f", seconds));
      suite.figures.put(name + " load" + label, seconds);
    }
    if (work != null) {
      put(name, "startup: reopen + load (s)", size, String.format("%.3f", seconds));
      suite.figures.put(key(name, size, "load"), seconds);
    }
    if (nativeScan != Long.MAX_VALUE) {
      if (mainRow) {
        suite.cell(
            "SQLite native full scan " + label + " (s)",
            name,
            String.format("%.3f", nativeScan / 1e9));
        suite.figures.put("native scan " + label, nativeScan / 1e9);
      }
      put(name, "SQLite native full scan (s)", size, String.format("%.3f", nativeScan / 1e9));
      suite.figures.put(key(name, size, "native scan"), nativeScan / 1e9);
    }
    if (heapPerEntry > 0) {
      if (size == 1_000_000) {
        suite.cell(
            "heap per entry, bytes (raw key+value: 116)",
            name,
            String.format("%.0f", heapPerEntry));
        suite.figures.put(name + " heap", heapPerEntry);
      }
      if (work != null) {
        put(name, "heap per entry (B; raw 116)", size, String.format("%.0f", heapPerEntry));
        suite.figures.put(key(name, size, "heap"), heapPerEntry);
      }
    }
  }

  private void put(String engine, String metric, int size, String value) {
    table.computeIfAbsent(engine + ": " + metric, r -> new LinkedHashMap<>()).put(size, value);
    System.err.println("  " + label(size) + " entries, " + metric + ": " + value);
  }

  /** The "how cost grows" table: one row per engine and metric, one column per store size. */
  String table() {
    if (table.isEmpty()) {
      return "";
    }
    List<String> header = new ArrayList<>();
    for (int size : sizes) {
      header.add(label(size) + " entries");
    }
    StringBuilder out =
        new StringBuilder("\nHow cost grows (store loaded to each size first):\n\n");
    out.append("| engine: metric | ").append(String.join(" | ", header)).append(" |\n");
    out.append("|---|").append("---|".repeat(sizes.length)).append('\n');
    table.forEach(
        (row, cells) -> {
          out.append("| ").append(row);
          for (int size : sizes) {
            out.append(" | ").append(cells.getOrDefault(size, "—"));
          }
          out.append(" |\n");
        });
    return out.toString();
  }
}
