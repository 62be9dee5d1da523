package dev.kvlog.bench;

import dev.kvlog.bench.CachedStores.CachedStore;
import dev.kvlog.bench.CachedStores.KVLogCached;
import dev.kvlog.bench.CachedStores.RocksCached;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.HdrHistogram.Histogram;

/**
 * Issue 15: a store larger than its cache. KVLog's bounded cache mode ({@code cacheSize}) against
 * RocksDB with an LRU block cache of the same bytes, on {@code -Dbounded.entries} (default 10M)
 * entries of the suite's shape (16-byte keys, 100-byte values) with a cache of 10% of the raw
 * key+value bytes. Measured, both engines in one run, engine order alternating from cell to cell
 * (and within a get cell from round to round): cold reopen to the first get, get throughput at 1
 * and 2 threads under uniform and scrambled Zipfian (θ = 0.99, {@link ScrambledZipfian}) keys with
 * each engine's cache hit rate, the memory the open and warmed store holds, and durable set p50 and
 * throughput at 1 and 8 writers.
 *
 * <p>The stores are generated once and kept in {@code target/bench/bounded-stores/} for the next
 * run (same entry count); {@code -Dbounded.fresh=true} regenerates them. The table says which.
 *
 * <p>Options: {@code -Dbounded=false} skips the section, {@code -Dbounded=only} runs nothing else,
 * {@code -Dbounded.coldDisk=false} skips the open after dropping the OS page cache (done only where
 * {@code /proc/sys/vm/drop_caches} is writable); {@code -Dbounded.seconds=3} per measured cell;
 * each cell warms up until its cache has settled, at least {@code -Dbounded.warmup=5} seconds in a
 * distribution's first cell, at most {@code -Dbounded.maxWarmup=40}.
 */
final class Bounded {
  static final String MODE = System.getProperty("bounded", "true");
  static final int ENTRIES = Growth.parseSizes(System.getProperty("bounded.entries", "10M"))[0];
  static final double CACHE_FRACTION = 0.10;
  static final int RAW_BYTES_PER_ENTRY = 116; // "key-%012d" + 100 ASCII chars
  static final double SECONDS = Double.parseDouble(System.getProperty("bounded.seconds", "3"));
  static final double WARMUP = Double.parseDouble(System.getProperty("bounded.warmup", "5"));
  static final int MAX_WARMUP = Integer.getInteger("bounded.maxWarmup", 40);
  static final boolean FRESH = Boolean.getBoolean("bounded.fresh");
  static final boolean COLD_DISK =
      Boolean.parseBoolean(System.getProperty("bounded.coldDisk", "true"));
  static final Path DROP_CACHES = Path.of("/proc/sys/vm/drop_caches");
  static final String FORMAT = "v2"; // bump when the stores' contents or options change
  static final String[] COLUMNS = {"KVLog bounded", "RocksDB block cache"};

  final Suite suite;
  final long cacheBytes = (long) (CACHE_FRACTION * ENTRIES * RAW_BYTES_PER_ENTRY);
  final Map<String, String[]> rows = new LinkedHashMap<>(); // row -> KVLog, RocksDB, ratio

  /** Chart label -> KVLog's advantage: KVLog ÷ RocksDB for rates, RocksDB ÷ KVLog for costs. */
  final Map<String, Double> ratios = new LinkedHashMap<>();

  final List<String> notes = new ArrayList<>();
  double sectionSeconds = -1;

  Bounded(Suite suite) {
    this.suite = suite;
  }

  static boolean enabled() {
    return !MODE.equals("false");
  }

  static boolean only() {
    return MODE.equals("only");
  }

  /**
   * {@code Suite.key(i)} without {@code String.format}, which would cost more than a cached get.
   */
  static String key(long i) {
    if (i < 0 || i >= 1_000_000_000_000L) {
      throw new IllegalArgumentException("key index out of range [0, 10^12): " + i);
    }
    char[] c = {'k', 'e', 'y', '-', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0'};
    for (int at = c.length - 1; i > 0; at--) {
      c[at] = (char) ('0' + i % 10);
      i /= 10;
    }
    return new String(c);
  }

  void run() throws Exception {
    long start = System.nanoTime();
    Path dir = Path.of("target", "bench", "bounded-stores", FORMAT + "-n" + ENTRIES);
    KVLogCached kv = new KVLogCached(dir.resolve("kvlog").resolve("kv.db"), cacheBytes);
    RocksCached rocks = new RocksCached(dir.resolve("rocksdb"), cacheBytes);
    System.err.printf(
        "== bounded cache: %,d entries, cache %.1f MB each%n", ENTRIES, cacheBytes / 1e6);
    notes.add("Load average (1, 5, 15 min) when the section started: " + loadAverage() + ".");
    Properties made = prepare(dir, kv, rocks);
    try {
      long heapBefore = Suite.usedHeap();
      openTimes(kv, rocks);
      if (COLD_DISK && Files.isWritable(DROP_CACHES)) {
        coldDiskOpen(dir, kv, rocks);
      }
      harness();
      int cell = 0;
      for (String dist : new String[] {"uniform", "Zipfian 0.99"}) {
        for (int threads : new int[] {1, 2}) {
          double warm = threads == 1 ? WARMUP : 1;
          gets(cell++ % 2 == 0 ? List.of(kv, rocks) : List.of(rocks, kv), dist, threads, warm);
        }
      }
      memory(kv, rocks, heapBefore);
      for (int writers : new int[] {1, 8}) {
        for (CachedStore e : writers == 1 ? List.of(rocks, kv) : List.of(kv, rocks)) {
          sets(e, writers);
        }
      }
      rocks.flush(); // the next run's open then replays no WAL
    } finally {
      kv.close();
      rocks.close();
    }
    made.setProperty("runs", Integer.toString(Integer.parseInt(made.getProperty("runs")) + 1));
    store(dir, made);
    sectionSeconds = (System.nanoTime() - start) / 1e9;
    notes.add(
        "Load average when it ended: "
            + loadAverage()
            + " (other work on this 2-core machine, if any, shares the CPUs and the disk).");
    System.err.printf("  bounded section: %.0f s%n", sectionSeconds);
  }

  /** Generates both stores unless a complete pair of this shape is on disk; returns its record. */
  Properties prepare(Path dir, KVLogCached kv, RocksCached rocks) throws Exception {
    Path record = dir.resolve("generated.properties");
    Properties made = new Properties();
    if (!FRESH && Files.exists(record)) {
      try (var in = Files.newBufferedReader(record)) {
        made.load(in);
      }
      notes.add(
          String.format(
              "Stores **reused** from an earlier run (generated %s; %s earlier run(s) of this"
                  + " section wrote to them): generation took %s s for KVLog, %s s for RocksDB"
                  + " then. -Dbounded.fresh=true regenerates.",
              made.getProperty("when"),
              made.getProperty("runs"),
              made.getProperty("kvlogSeconds"),
              made.getProperty("rocksSeconds")));
      return made;
    }
    Suite.deleteTree(dir);
    Files.createDirectories(dir.resolve("kvlog"));
    long t0 = System.nanoTime();
    kv.generate(ENTRIES);
    long t1 = System.nanoTime();
    rocks.generate(ENTRIES);
    long t2 = System.nanoTime();
    made.setProperty("when", java.time.Instant.now().toString());
    made.setProperty("runs", "0");
    made.setProperty("kvlogSeconds", String.format("%.1f", (t1 - t0) / 1e9));
    made.setProperty("rocksSeconds", String.format("%.1f", (t2 - t1) / 1e9));
    store(dir, made);
    notes.add(
        String.format(
            "Stores generated **fresh** in this run: KVLog %.1f s (write(WriteBatch) of %,d"
                + " entries each, one durable commit per batch), RocksDB %.1f s (SstFileWriter"
                + " files of %,d sorted entries, then one ingestExternalFile: a single sorted run"
                + " on the bottom level, as after a full compaction).",
            (t1 - t0) / 1e9, KVLogCached.BATCH, (t2 - t1) / 1e9, RocksCached.ENTRIES_PER_FILE));
    System.err.printf(
        "  generated: KVLog %.1f s, RocksDB %.1f s%n", (t1 - t0) / 1e9, (t2 - t1) / 1e9);
    return made;
  }

  private static void store(Path dir, Properties made) throws IOException {
    try (var out = Files.newBufferedWriter(dir.resolve("generated.properties"))) {
      made.store(out, "bounded-cache stores of the bench suite");
    }
  }

  /** Close (clean), then open and serve one get: median of 3 per engine, interleaved. */
  void openTimes(CachedStore a, CachedStore b) throws Exception {
    Map<CachedStore, double[]> ms = new LinkedHashMap<>();
    ms.put(a, new double[3]);
    ms.put(b, new double[3]);
    for (int round = 0; round < 3; round++) {
      for (CachedStore e : round % 2 == 0 ? List.of(a, b) : List.of(b, a)) {
        e.close();
        String k = key(ThreadLocalRandom.current().nextInt(ENTRIES));
        long t0 = System.nanoTime();
        e.open();
        if (e.get(k) == null) {
          throw new AssertionError(e.name + " lost " + k);
        }
        ms.get(e)[round] = (System.nanoTime() - t0) / 1e6;
      }
    }
    double[] median = new double[2];
    int i = 0;
    for (double[] v : ms.values()) {
      Arrays.sort(v);
      median[i++] = v[1];
    }
    row(
        "open: cold reopen to first get served (ms, median of 3)",
        String.format("%.1f", median[0]),
        String.format("%.1f", median[1]),
        median[0] / median[1]);
    ratios.put("open to first get", median[1] / median[0]);
  }

  /**
   * Open to first get after the OS page cache was dropped (root only): the store's files come from
   * the disk. Then reads both stores' files whole, so that the cells after it find them in memory
   * again, as the other figures assume.
   */
  void coldDiskOpen(Path dir, CachedStore a, CachedStore b) throws Exception {
    double[] ms = new double[2];
    int i = 0;
    for (CachedStore e : List.of(a, b)) {
      e.close();
      new ProcessBuilder("sync").inheritIO().start().waitFor();
      Files.writeString(DROP_CACHES, "1");
      String k = key(ThreadLocalRandom.current().nextInt(ENTRIES));
      long t0 = System.nanoTime();
      e.open();
      if (e.get(k) == null) {
        throw new AssertionError(e.name + " lost " + k);
      }
      ms[i++] = (System.nanoTime() - t0) / 1e6;
    }
    long t0 = System.nanoTime();
    byte[] buffer = new byte[1 << 20];
    try (var files = Files.walk(dir)) {
      for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
        try (var in = Files.newInputStream(f)) {
          while (in.read(buffer) > 0) {
            // only to bring the file into the page cache
          }
        }
      }
    }
    row(
        "open after dropping the OS page cache, to first get served (ms, one run)",
        String.format("%.1f", ms[0]),
        String.format("%.1f", ms[1]),
        ms[0] / ms[1]);
    ratios.put("open to first get, cold disk", ms[1] / ms[0]);
    notes.add(
        String.format(
            "The cold-disk open ran after `sync` and `echo 1 > /proc/sys/vm/drop_caches`; the"
                + " stores' files were then read whole (%.1f s) so that every other figure reads"
                + " them from memory.",
            (System.nanoTime() - t0) / 1e9));
  }

  /** What drawing and formatting a key costs alone: the ceiling of any get figure below. */
  void harness() throws Exception {
    StringBuilder s = new StringBuilder("The harness alone (draw a key index, format the key)");
    for (String dist : new String[] {"uniform", "Zipfian 0.99"}) {
      Window w = run(generators(dist, 1), k -> {}, null, 1, false, 1);
      s.append(String.format(", %s %.1f M/s", dist, w.ops / (w.nanos / 1e9) / 1e6));
    }
    notes.add(s.append(" on 1 thread.").toString());
  }

  interface KeyOp {
    void run(String key) throws Exception;
  }

  /** Rounds of the measured window per get cell, the engines alternating within the cell. */
  static final int ROUNDS = 3;

  /**
   * One get cell: both engines warm up on their own copies of the same key sequence until their
   * caches settle, then {@link #ROUNDS} rounds of {@code SECONDS / ROUNDS} each, engine order
   * alternating from round to round, so that a change in the machine's load during the cell falls
   * on both engines alike. Each engine's key generators continue from round to round: a round does
   * not replay keys an earlier one left in the cache.
   */
  void gets(List<CachedStore> engines, String dist, int threads, double warm) throws Exception {
    Map<CachedStore, List<LongSupplier>> keys = new LinkedHashMap<>();
    Map<CachedStore, Window> total = new LinkedHashMap<>();
    Map<CachedStore, Long> warmSeconds = new LinkedHashMap<>();
    for (CachedStore e : engines) {
      keys.put(e, generators(dist, threads));
      Window w = run(keys.get(e), checkedGet(e), e, warm, true, 0);
      warmSeconds.put(e, w.nanos / 1_000_000_000L);
      total.put(e, new Window());
    }
    for (int round = 0; round < ROUNDS; round++) {
      List<CachedStore> order = new ArrayList<>(engines);
      if (round % 2 == 1) {
        java.util.Collections.reverse(order);
      }
      for (CachedStore e : order) {
        total.get(e).add(run(keys.get(e), checkedGet(e), e, 0, false, SECONDS / ROUNDS));
      }
    }
    String t = threads == 1 ? "1 thread" : threads + " threads";
    String label = "get, " + dist + ", " + t;
    for (CachedStore e : engines) {
      Window w = total.get(e);
      double rate = w.ops / (w.nanos / 1e9);
      suite.figures.put("bounded " + e.name + " " + label, rate);
      if (e instanceof RocksCached) {
        System.err.println("  RocksDB " + ((RocksCached) e).metadataLookups());
      }
      long all = w.hits + w.misses;
      suite.figures.put(
          "bounded " + e.name + " hit " + dist + " " + threads,
          all == 0 ? -1 : (double) w.hits / all);
      put(label + " (ops/s)", e, Suite.fmt(rate));
      put(
          "cache hit rate, " + dist + ", " + t + " (KVLog: keys; RocksDB: data blocks)",
          e,
          all == 0
              ? "n/a"
              : String.format("%.1f%% (warm-up %d s)", 100.0 * w.hits / all, warmSeconds.get(e)));
    }
    Double r =
        suite.ratio("bounded " + COLUMNS[0] + " " + label, "bounded " + COLUMNS[1] + " " + label);
    if (r != null) {
      rows.get(label + " (ops/s)")[2] = String.format("%.2f×", r);
      ratios.put(label.replace("get, ", "get "), r);
    }
  }

  static KeyOp checkedGet(CachedStore e) {
    return k -> {
      if (e.get(k) == null) {
        throw new AssertionError("missing key " + k + " in " + e.name);
      }
    };
  }

  /**
   * One generator of key indexes per thread. The seeds depend on the cell (distribution and
   * threads) only, so every engine gets the same sequence, and a cell does not replay the keys that
   * the previous cell left in the cache.
   */
  static List<LongSupplier> generators(String dist, int threads) {
    List<LongSupplier> list = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      long seed = (dist.equals("uniform") ? 1000 : 2000) + 100L * threads + t;
      if (dist.equals("uniform")) {
        SplittableRandom r = new SplittableRandom(seed);
        list.add(() -> r.nextInt(ENTRIES));
      } else {
        list.add(new ScrambledZipfian(ENTRIES, seed)::next);
      }
    }
    return list;
  }

  /** Ops done, the nanoseconds they took, and the store's cache hits and misses meanwhile. */
  static final class Window {
    long ops;
    long nanos;
    long hits;
    long misses;

    void add(Window w) {
      ops += w.ops;
      nanos += w.nanos;
      hits += w.hits;
      misses += w.misses;
    }
  }

  /**
   * Runs {@code op} on one thread per generator. With {@code settle} (a warm-up): for at least
   * {@code minSeconds}, then until the store's cache has settled, the hit rate of the last 2 s
   * within 10% of that of the 2 s before (at most {@link #MAX_WARMUP} s); the window's nanos are
   * then the warm-up's length. Otherwise for {@code seconds}, counting the ops begun in it and the
   * store's hits and misses.
   */
  static Window run(
      List<LongSupplier> generators,
      KeyOp op,
      CachedStore store,
      double minSeconds,
      boolean settle,
      double seconds)
      throws Exception {
    AtomicLong count = new AtomicLong();
    AtomicInteger state = new AtomicInteger(settle ? 0 : 1); // 0: warm-up, 1: counted, 2: stop
    Throwable[] failure = new Throwable[1];
    List<Thread> list = new ArrayList<>();
    long[] a = store == null ? null : store.hitsAndMisses();
    long start = System.nanoTime();
    for (LongSupplier keys : generators) {
      Thread thread =
          new Thread(
              () -> {
                try {
                  long n = 0;
                  for (int p; (p = state.get()) < 2; ) {
                    op.run(key(keys.getAsLong()));
                    n += p;
                  }
                  count.addAndGet(n);
                } catch (Throwable e) {
                  failure[0] = e;
                  state.set(2);
                }
              });
      thread.start();
      list.add(thread);
    }
    if (settle) {
      List<long[]> samples = new ArrayList<>(); // {hits, misses} at 0, 1, 2 ... seconds
      samples.add(a);
      for (int k = 1; failure[0] == null && k <= MAX_WARMUP; k++) {
        sleepUntil(start + k * 1_000_000_000L);
        samples.add(store.hitsAndMisses());
        if (k >= Math.max(minSeconds, 4)) {
          double recent = hitRate(samples.get(k - 2), samples.get(k));
          double before = hitRate(samples.get(k - 4), samples.get(k - 2));
          if (Math.abs(recent - before) <= 0.1 * before) {
            break;
          }
        }
      }
    } else {
      sleepUntil(start + (long) (seconds * 1e9));
    }
    state.set(2);
    long[] b = store == null ? null : store.hitsAndMisses();
    long end = System.nanoTime();
    for (Thread t : list) {
      t.join();
    }
    if (failure[0] != null) {
      throw new IllegalStateException("benchmark thread failed", failure[0]);
    }
    Window w = new Window();
    w.ops = count.get();
    w.nanos = end - start;
    if (store != null) {
      w.hits = b[0] - a[0];
      w.misses = b[1] - a[1];
    }
    return w;
  }

  /** Hit rate between two {hits, misses} samples. */
  static double hitRate(long[] from, long[] to) {
    long hits = to[0] - from[0];
    long all = hits + to[1] - from[1];
    return all == 0 ? 0 : (double) hits / all;
  }

  private static void sleepUntil(long nanoTime) throws InterruptedException {
    for (long left; (left = nanoTime - System.nanoTime()) > 0; ) {
      Thread.sleep(left / 1_000_000, (int) (left % 1_000_000));
    }
  }

  /** KVLog's heap (used after GC, minus before either store opened) and RocksDB's native memory. */
  void memory(KVLogCached kv, RocksCached rocks, long heapBefore) throws Exception {
    long withBoth = Suite.usedHeap();
    String offHeap = rocks.offHeap();
    long native_ = rocks.offHeapBytes();
    kv.close();
    long withoutKv = Suite.usedHeap();
    double kvMb = (withBoth - withoutKv) / 1e6;
    row(
        "memory of the open, warmed store (MB; KVLog: heap, RocksDB: native)",
        String.format("%.1f", kvMb),
        String.format("%.1f", native_ / 1e6),
        kvMb / (native_ / 1e6));
    ratios.put("memory", (native_ / 1e6) / kvMb);
    notes.add(
        String.format(
            "Memory after the Zipfian 2-thread cell: KVLog's heap is used heap after GC with the"
                + " store open minus with it closed (%.1f MB; %.1f MB of the JVM's heap were in use"
                + " before either store opened, %.1f MB with both open). RocksDB's native memory:"
                + " %s; its Java heap is a few handles.",
            kvMb, heapBefore / 1e6, withBoth / 1e6, offHeap));
    kv.open(); // cold again; the sets below do not depend on the cache
  }

  void sets(CachedStore e, int writers) throws Exception {
    Histogram h = new Histogram(3_600_000_000L, 3);
    Suite.timed(
        writers,
        SECONDS,
        (histogram) -> {
          String k = key(ThreadLocalRandom.current().nextInt(ENTRIES));
          String v = Suite.freshValue();
          long t0 = System.nanoTime();
          e.set(k, v);
          histogram.recordValue((System.nanoTime() - t0) / 1000);
        },
        h);
    String w = writers == 1 ? "1 writer" : writers + " writers";
    double rate = h.getTotalCount() / SECONDS;
    long p50 = h.getValueAtPercentile(50);
    suite.figures.put("bounded " + e.name + " set" + writers, rate);
    suite.figures.put("bounded " + e.name + " set" + writers + " p50", (double) p50);
    put("durable set, uniform keys, " + w + " (ops/s)", e, Suite.fmt(rate));
    put("durable set, uniform keys, " + w + " p50 (µs)", e, Long.toString(p50));
    Double r =
        suite.ratio(
            "bounded " + COLUMNS[0] + " set" + writers, "bounded " + COLUMNS[1] + " set" + writers);
    if (r != null) {
      rows.get("durable set, uniform keys, " + w + " (ops/s)")[2] = String.format("%.2f×", r);
      ratios.put("set, " + w, r);
    }
    Double p =
        suite.ratio(
            "bounded " + COLUMNS[0] + " set" + writers + " p50",
            "bounded " + COLUMNS[1] + " set" + writers + " p50");
    if (p != null) {
      rows.get("durable set, uniform keys, " + w + " p50 (µs)")[2] = String.format("%.2f×", p);
      ratios.put("set p50, " + w, 1 / p);
    }
  }

  private void put(String row, CachedStore e, String value) {
    String[] cells = rows.computeIfAbsent(row, r -> new String[] {"—", "—", "—"});
    cells[e.name.equals(COLUMNS[0]) ? 0 : 1] = value;
    System.err.println("  " + e.name + ": " + row + ": " + value);
  }

  private void row(String row, String kv, String rocks, double ratio) {
    rows.put(row, new String[] {kv, rocks, String.format("%.2f×", ratio)});
    System.err.println("  " + row + ": " + kv + " / " + rocks);
  }

  /** The section of results.md. */
  String table() {
    if (rows.isEmpty()) {
      return "";
    }
    StringBuilder out =
        new StringBuilder(
            String.format(
                "%nLarger than its cache (issue 15): %,d entries (%.2f GB of keys+values), each"
                    + " engine's cache %.1f MB (10%% of that):%n%n",
                ENTRIES, (double) ENTRIES * RAW_BYTES_PER_ENTRY / 1e9, cacheBytes / 1e6));
    out.append("| workload | ")
        .append(String.join(" | ", COLUMNS))
        .append(" | KVLog / RocksDB |\n|---|---|---|---|\n");
    rows.forEach(
        (row, c) -> out.append(String.format("| %s | %s | %s | %s |%n", row, c[0], c[1], c[2])));
    out.append('\n');
    List<String> all = new ArrayList<>(notes);
    all.add(
        "KVLog: `KVLog.builder(path).cacheSize(bytes)` (W-TinyLFU over estimated heap bytes; a miss"
            + " reads SQLite). RocksDB: LRU block cache of the same bytes, index and filter blocks in"
            + " it (cache_index_and_filter_blocks, high priority) and partitioned (two-level"
            + " index, partitioned filters, top level pinned), bloom filter 10 bits/key, no"
            + " compression, 4 KiB blocks, sync=true writes.");
    all.add(
        "Hit rates are not alike: KVLog's count keys (cacheHits / (hits + misses) from"
            + " stats()), RocksDB's count data blocks (BLOCK_CACHE_DATA_HIT / (… + …_MISS)), where"
            + " a cached 4 KiB block holds about 30 entries.");
    all.add(
        String.format(
            "Both engines read through the OS page cache, and the data files fit in this machine's"
                + " RAM (%.0f GiB), so a miss costs a read from memory, not from the disk. Keys:"
                + " uniform, or YCSB's scrambled Zipfian (θ = 0.99), same seeds for both engines"
                + " in a cell. Each cell warms up on its own keys until the cache has settled (the"
                + " hit rate of the last 2 s within 10%% of that of the 2 s before; at least %.0f s"
                + " in a distribution's first cell, 4 s in the others, at most %d s; the seconds"
                + " are in the hit-rate rows); then %.0f s measured per engine, in %d rounds"
                + " that alternate the engines, each engine's keys continuing from round to round.",
            totalRamGiB(), Math.max(WARMUP, 4), MAX_WARMUP, SECONDS, ROUNDS));
    if (sectionSeconds >= 0) {
      all.add(String.format("This section took %.0f s in all.", sectionSeconds));
    }
    for (String n : all) {
      out.append("- ").append(n).append('\n');
    }
    return out.toString();
  }

  static String loadAverage() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
      return f[0] + ", " + f[1] + ", " + f[2];
    } catch (IOException | RuntimeException unavailable) {
      return "unknown";
    }
  }

  /** MemTotal from /proc/meminfo (Linux), NaN elsewhere. */
  static double totalRamGiB() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
        if (line.startsWith("MemTotal:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) / (double) (1 << 20);
        }
      }
    } catch (IOException | RuntimeException unavailable) {
      // not Linux
    }
    return Double.NaN;
  }
}
