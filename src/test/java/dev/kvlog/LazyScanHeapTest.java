package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A paged scan runs in bounded memory: a child JVM whose heap holds the warm cache of {@value
 * #ENTRIES} values of {@value #VALUE_CHARS} chars (100 MB) with little room to spare scans the
 * whole store paged, while the materialized range, which needs a second copy of every value, runs
 * out of memory in the same heap (the negative control). The cache is the whole table until the
 * bounded cache mode lands, so "larger than the heap" here means larger than the heap left beside
 * the cache.
 */
class LazyScanHeapTest {
  static final int ENTRIES = 1_000;
  static final int VALUE_CHARS = 100_000;
  static final String HEAP = System.getProperty("lazyScanHeapTest.heap", "-Xmx150m");

  @TempDir Path dir;

  @Test
  void pagedScan_ofTheWholeStore_fitsWhereTheMaterializedOneRunsOutOfMemory() throws Exception {
    Path file = dir.resolve("kv.db");
    KVLog.open(file).close(); // creates the table
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
        Statement s = c.createStatement()) {
      s.execute("PRAGMA synchronous = OFF"); // setup only: nobody relies on these rows
      c.setAutoCommit(false);
      try (PreparedStatement insert = c.prepareStatement("INSERT INTO kv VALUES (?, ?)")) {
        for (int i = 0; i < ENTRIES; i++) {
          insert.setString(1, String.format("key%06d", i));
          insert.setString(2, Character.toString('a' + i % 26).repeat(VALUE_CHARS));
          insert.executeUpdate();
        }
      }
      c.commit();
      c.setAutoCommit(true);
      s.execute("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    long chars = (long) ENTRIES * VALUE_CHARS;
    assertThat(runChild(file, "paged")).isEqualTo("scanned " + ENTRIES + " entries, " + chars);
    assertThat(runChild(file, "materialized")).isEqualTo("out of memory");
  }

  private static String runChild(Path file, String mode) throws Exception {
    List<String> command = ChildJvm.command(Child.class, file.toString(), mode);
    command.add(1, HEAP);
    Process child =
        new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String out = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(child.waitFor(180, TimeUnit.SECONDS)).isTrue();
    assertThat(child.exitValue()).as("%s child output: %s", mode, out).isZero();
    return out.trim();
  }

  /** Opens the store and reads every entry in the given mode, printing what it read. */
  static final class Child {
    public static void main(String[] args) throws Exception {
      Scan how = args[1].equals("paged") ? Scan.paged(1_000) : Scan.materialized();
      try (KVLog<String, String> store = KVLog.open(Path.of(args[0]))) {
        long count = 0;
        long chars = 0;
        try (Stream<Map.Entry<String, String>> all = store.range(null, null, how)) {
          for (Map.Entry<String, String> e : (Iterable<Map.Entry<String, String>>) all::iterator) {
            count++;
            chars += e.getValue().length();
          }
        } catch (OutOfMemoryError e) {
          System.out.println("out of memory");
          return;
        }
        System.out.println("scanned " + count + " entries, " + chars);
      }
    }
  }
}
