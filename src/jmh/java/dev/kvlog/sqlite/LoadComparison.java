package dev.kvlog.sqlite;

import dev.kvlog.KVLog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The warm-start load alone, interleaved in one run on one file of {@code -Dentries} (default 1M)
 * 16-byte keys and 100-byte values: the two-way pinned load, this branch's single-connection
 * fallback, main's loader (one connection into a ConcurrentHashMap), SQLite's native full scan and
 * {@code count(*)}, and the estimate's pragmas; then whole opens with an outside writer
 * (busy_timeout=0) committing in a loop, counting its refusals.
 *
 * <p>Run: {@code mvn -B -Pbench -DskipTests test-compile exec:exec
 * -Dbench.main=dev.kvlog.sqlite.LoadComparison}
 */
public final class LoadComparison {
  private LoadComparison() {}

  public static void main(String[] args) throws Exception {
    int entries = Integer.getInteger("entries", 1_000_000);
    int rounds = Integer.getInteger("rounds", 5);
    Path dir = Files.createTempDirectory("kvlog-load");
    Path file = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.open(file)) {
      store.set("created", "yes");
    }
    fill(file, entries);
    String url = "jdbc:sqlite:" + file;
    Map<String, List<Double>> ms = new LinkedHashMap<>();
    try (Connection c = DriverManager.getConnection(url);
        Connection helper = DriverManager.getConnection(url);
        Connection pinner = DriverManager.getConnection(url)) {
      Map<String, Step> steps = new LinkedHashMap<>();
      steps.put(
          "two-way pinned (this branch)",
          () -> WarmCache.load(c, helper, pinner, () -> {}, TableLoader.CHUNK_BYTES).size());
      steps.put(
          "one connection into Bulk (fallback)",
          () -> WarmCache.load(c, null, null, () -> {}, TableLoader.CHUNK_BYTES).size());
      steps.put(
          "main: one connection into CHM",
          () -> {
            ConcurrentHashMap<String, String> map = new ConcurrentHashMap<>();
            TableLoader.readAll(c, true, () -> {}, map::put, TableLoader.CHUNK_BYTES);
            return map.size();
          });
      steps.put(
          "native scan count(*),sum(length(value))",
          () -> scalar(c, "SELECT count(*), sum(length(value)) FROM kv"));
      steps.put("SELECT count(*) FROM kv", () -> scalar(c, "SELECT count(*) FROM kv"));
      steps.put(
          "estimate pragmas (page_count, freelist_count, page_size)",
          () -> {
            Database.pragma(c, "page_count");
            Database.pragma(c, "freelist_count");
            return (long) Database.pragma(c, "page_size").length();
          });
      for (Map.Entry<String, Step> e : steps.entrySet()) {
        e.getValue().run(); // warm-up
      }
      List<String> names = new ArrayList<>(steps.keySet());
      for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < names.size(); i++) {
          String name = names.get((i + r) % names.size());
          System.gc();
          long t0 = System.nanoTime();
          long n = steps.get(name).run();
          double t = (System.nanoTime() - t0) / 1e6;
          if (n <= 0) {
            throw new AssertionError(name);
          }
          ms.computeIfAbsent(name, k -> new ArrayList<>()).add(t);
        }
      }
    }
    System.out.println(
        "entries " + entries + ", " + rounds + " rounds interleaved, ms (median; all)");
    ms.forEach((k, v) -> System.out.printf("%-58s %8.1f  %s%n", k, median(v), fmt(v)));

    List<Double> opens = new ArrayList<>();
    int[] refused = new int[1];
    int[] committed = new int[1];
    for (int r = 0; r < 3; r++) {
      AtomicBoolean stop = new AtomicBoolean();
      AtomicInteger ok = new AtomicInteger();
      AtomicInteger busy = new AtomicInteger();
      Thread writer =
          new Thread(
              () -> {
                try (Connection w = DriverManager.getConnection(url);
                    Statement s = w.createStatement()) {
                  s.execute("PRAGMA busy_timeout = 0");
                  s.execute("PRAGMA synchronous = OFF");
                  for (int i = 0; !stop.get(); i++) {
                    try {
                      s.executeUpdate(
                          "INSERT OR REPLACE INTO kv VALUES ('outside"
                              + (i % 100)
                              + "', 'v"
                              + i
                              + "')");
                      ok.incrementAndGet();
                    } catch (SQLException e) {
                      busy.incrementAndGet();
                    }
                    Thread.sleep(1);
                  }
                } catch (Exception e) {
                  throw new IllegalStateException(e);
                }
              });
      System.gc();
      writer.start();
      Thread.sleep(50);
      int okBefore = ok.get();
      int busyBefore = busy.get();
      long t0 = System.nanoTime();
      try (KVLog<String, String> store = KVLog.open(file)) {
        opens.add((System.nanoTime() - t0) / 1e6);
        refused[0] += busy.get() - busyBefore;
        committed[0] += ok.get() - okBefore;
      }
      stop.set(true);
      writer.join();
    }
    System.out.printf(
        "KVLog.open (reopen + load) with an outside writer: ms %s; during the opens the writer"
            + " committed %d times and was refused %d times%n",
        fmt(opens), committed[0], refused[0]);
    for (Path p : Files.list(dir).toArray(Path[]::new)) {
      Files.delete(p);
    }
    Files.delete(dir);
  }

  interface Step {
    long run() throws Exception;
  }

  private static long scalar(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static void fill(Path file, int entries) throws SQLException {
    Random random = new Random(1);
    char[] value = new char[100];
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
        Statement s = c.createStatement()) {
      s.execute("PRAGMA synchronous = OFF");
      c.setAutoCommit(false);
      try (PreparedStatement p = c.prepareStatement("INSERT OR REPLACE INTO kv VALUES (?, ?)")) {
        for (int i = 0; i < entries; i++) {
          for (int j = 0; j < value.length; j++) {
            value[j] = (char) ('a' + random.nextInt(26));
          }
          p.setString(1, String.format("%016x", random.nextLong()));
          p.setString(2, new String(value));
          p.executeUpdate();
        }
      }
      c.commit();
      c.setAutoCommit(true);
      s.execute("PRAGMA wal_checkpoint(TRUNCATE)");
    }
  }

  private static double median(List<Double> v) {
    double[] a = v.stream().mapToDouble(Double::doubleValue).toArray();
    Arrays.sort(a);
    return a[a.length / 2];
  }

  private static String fmt(List<Double> v) {
    StringBuilder b = new StringBuilder();
    for (double d : v) {
      b.append(String.format("%.0f ", d));
    }
    return b.toString().trim();
  }
}
