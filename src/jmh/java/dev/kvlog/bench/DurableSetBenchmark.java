package dev.kvlog.bench;

import dev.kvlog.KVLog;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
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
 * Latency of one durable write from one thread (16-byte keys, 100-byte values), side by side with
 * two baselines measured in the same run: the same upsert on a bare sqlite-jdbc connection (WAL,
 * synchronous=FULL), and the physical floor, a 128-byte append plus {@code FileChannel.force}.
 *
 * <p>Run: {@code mvn -Pbench -DskipTests test-compile exec:exec -Djmh.args="DurableSet -f 1"}
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 1, time = 3)
@Measurement(iterations = 3, time = 5)
@State(Scope.Benchmark)
public class DurableSetBenchmark {
  static final String VALUE = "v".repeat(88);
  long sequence; // makes every value new: SQLite skips the write (and fsync) of an identical row

  Path dir;
  KVLog<String, String> store;
  Connection raw;
  PreparedStatement rawUpsert;
  FileChannel log;
  ByteBuffer record = ByteBuffer.allocateDirect(128);

  @Setup(Level.Trial)
  public void open() throws Exception {
    dir = Files.createTempDirectory(Path.of("target"), "bench-");
    store = KVLog.load(dir.resolve("kv.db"));
    raw =
        DriverManager.getConnection(
            "jdbc:sqlite:" + dir.resolve("raw.db") + "?journal_mode=WAL&synchronous=FULL");
    raw.createStatement()
        .executeUpdate(
            "CREATE TABLE kv(key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID");
    rawUpsert =
        raw.prepareStatement(
            "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    log =
        FileChannel.open(
            dir.resolve("floor.log"),
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.APPEND);
  }

  @TearDown(Level.Trial)
  public void close() throws Exception {
    store.close();
    rawUpsert.close();
    raw.close();
    log.close();
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  static String key() {
    return String.format("key-%011d", ThreadLocalRandom.current().nextInt(100_000)); // 16 chars
  }

  String value() {
    return String.format("%s%012d", VALUE, ++sequence); // 100 chars
  }

  @Benchmark
  public Object kvlogSet() {
    return store.set(key(), value());
  }

  @Benchmark
  public int sqliteRawUpsert() throws SQLException {
    rawUpsert.setString(1, key());
    rawUpsert.setString(2, value());
    return rawUpsert.executeUpdate();
  }

  @Benchmark
  public long floorAppendForce() throws IOException {
    record.clear();
    log.write(record);
    log.force(false);
    return log.position();
  }
}
