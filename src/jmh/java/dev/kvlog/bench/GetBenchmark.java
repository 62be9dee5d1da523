package dev.kvlog.bench;

import dev.kvlog.KVLog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.Comparator;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Point reads from one thread over 100k entries (16-byte keys, 100-byte values): KVLog's cache
 * against the baseline of a SELECT on the same table through sqlite-jdbc, in the same run.
 *
 * <p>Run: {@code mvn -Pbench -DskipTests test-compile exec:exec -Djmh.args="Get -f 1"}
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1, time = 3)
@Measurement(iterations = 3, time = 3)
@State(Scope.Benchmark)
public class GetBenchmark {
  static final int ENTRIES = 100_000;
  static final String[] KEYS = new String[ENTRIES]; // formatted once: String.format would dominate
  Path dir;
  KVLog<String, String> store;
  Connection raw;
  PreparedStatement select;

  @Setup(Level.Trial)
  public void fill() throws Exception {
    for (int i = 0; i < ENTRIES; i++) {
      KEYS[i] = key(i);
    }
    dir = Files.createTempDirectory(Path.of("target"), "bench-");
    Path db = dir.resolve("kv.db");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db)) {
      c.setAutoCommit(false);
      try (KVLog<String, String> create = KVLog.load(db)) {
        create.set("init", "x");
      }
      try (PreparedStatement insert =
          c.prepareStatement("INSERT OR REPLACE INTO kv VALUES (?, ?)")) {
        for (int i = 0; i < ENTRIES; i++) {
          insert.setString(1, KEYS[i]);
          insert.setString(2, "v".repeat(100));
          insert.addBatch();
        }
        insert.executeBatch();
      }
      c.commit();
    }
    store = KVLog.load(db);
    raw = DriverManager.getConnection("jdbc:sqlite:" + db + "?open_mode=1");
    select = raw.prepareStatement("SELECT value FROM kv WHERE key = ?");
  }

  @TearDown(Level.Trial)
  public void close() throws Exception {
    store.close();
    select.close();
    raw.close();
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  static String key(int i) {
    return String.format("key-%011d", i);
  }

  @Benchmark
  public Object kvlogGet() {
    return store.get(KEYS[ThreadLocalRandom.current().nextInt(ENTRIES)]);
  }

  @Benchmark
  public String sqliteSelect() throws Exception {
    select.setString(1, KEYS[ThreadLocalRandom.current().nextInt(ENTRIES)]);
    try (ResultSet rs = select.executeQuery()) {
      return rs.next() ? rs.getString(1) : null;
    }
  }
}
