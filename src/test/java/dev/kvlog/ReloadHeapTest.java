package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A reload after another connection's commit must not hold a second copy of the table: a child JVM
 * whose heap fits the warm start of {@value #ENTRIES} entries of 20-byte values opens the store,
 * commits one row through a JDBC connection of its own, and refreshes. Measured: the open alone
 * needs between 56 and 64 MB; reading every row into a second map before diffing ran out of memory
 * in the reload even at 88 MB; the streaming diff passes at 64 MB. The test uses 72 MB.
 */
class ReloadHeapTest {
  static final int ENTRIES = Integer.getInteger("reloadHeapTest.entries", 300_000);
  static final String HEAP = System.getProperty("reloadHeapTest.heap", "-Xmx72m");

  @TempDir Path dir;

  @Test
  void refresh_afterOneOutsideCommit_fitsInAHeapWithRoomForOneTable() throws Exception {
    Path file = dir.resolve("kv.db");
    KVLog.open(file).close(); // creates the table
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
        Statement s = c.createStatement()) {
      s.execute("PRAGMA synchronous = OFF"); // setup only: nobody relies on these rows
      c.setAutoCommit(false);
      try (PreparedStatement insert = c.prepareStatement("INSERT INTO kv VALUES (?, ?)")) {
        for (int i = 0; i < ENTRIES; i++) {
          insert.setString(1, String.format("key%09d", i));
          insert.setString(2, String.format("value-%014d", i)); // 20 bytes
          insert.executeUpdate();
        }
      }
      c.commit();
      c.setAutoCommit(true);
      s.execute("PRAGMA wal_checkpoint(TRUNCATE)");
    }

    List<String> command = ChildJvm.command(Child.class, file.toString());
    command.add(1, HEAP);
    Process child =
        new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String out = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(child.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(child.exitValue()).as("child output: %s", out).isZero();
    assertThat(out.trim()).isEqualTo("reloaded true size " + (ENTRIES + 1) + " outside yes");
  }

  /** Opens the store, commits one row from outside, refreshes, and prints what it sees. */
  static final class Child {
    public static void main(String[] args) throws Exception {
      Path file = Path.of(args[0]);
      // No periodic check: refresh() itself must do the reload.
      try (KVLog<String, String> store =
          KVLog.builder(file).externalChangeCheck(Duration.ZERO).open()) {
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
            Statement s = c.createStatement()) {
          s.executeUpdate("INSERT INTO kv VALUES ('outside', 'yes')");
        }
        boolean reloaded = store.refresh();
        System.out.println(
            "reloaded "
                + reloaded
                + " size "
                + store.size()
                + " outside "
                + store.get("outside").orElse(null));
      }
    }
  }
}
