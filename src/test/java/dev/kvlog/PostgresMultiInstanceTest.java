package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Several instances on one PostgreSQL store: writes decided by the database, caches converge. */
class PostgresMultiInstanceTest {
  @TempDir Path dir;
  @RegisterExtension final PostgresSchema schema = new PostgresSchema();

  static void increment(KVStore<String, String> store) {
    for (; ; ) {
      Optional<String> seen = store.get("counter");
      String next = Long.toString(seen.map(Long::parseLong).orElse(0L) + 1);
      if (store.compareAndSet("counter", seen.orElse(null), next)) {
        return;
      }
    }
  }

  /**
   * Two instances increment one counter with compare-and-set from 4 threads each. A CAS decided
   * against a stale cache instead of the table would let two increments claim the same value.
   */
  @Test
  void twoInstances_casCounterEndsExact_andCachesConverge() throws Exception {
    int perThread = 25;
    try (KVLog<String, String> a = KVLog.builder(schema.url()).open();
        KVLog<String, String> b = KVLog.builder(schema.url()).open()) {
      ExecutorService pool = Executors.newFixedThreadPool(8);
      List<Future<?>> tasks = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        KVStore<String, String> store = t % 2 == 0 ? a : b;
        tasks.add(
            pool.submit(
                () -> {
                  for (int i = 0; i < perThread; i++) {
                    increment(store);
                  }
                  return null;
                }));
      }
      for (Future<?> f : tasks) {
        f.get(120, TimeUnit.SECONDS);
      }
      pool.shutdown();
      String expected = Integer.toString(8 * perThread);
      awaitValue(a, "counter", expected);
      awaitValue(b, "counter", expected);

      // A write on one instance reaches the other's cache; each reads its own writes at once.
      for (int i = 0; i < 50; i++) {
        a.set("from-a", "a" + i);
        assertThat(a.get("from-a")).contains("a" + i);
        b.set("from-b", "b" + i);
        assertThat(b.get("from-b")).contains("b" + i);
      }
      awaitValue(b, "from-a", "a49");
      awaitValue(a, "from-b", "b49");
      b.delete("from-a");
      awaitValue(a, "from-a", null);
    }
  }

  /**
   * Two instances write batches over the same keys, one in ascending and one in descending order,
   * at once. Row locks taken in the caller's order deadlock (PostgreSQL breaks each after
   * deadlock_timeout, and the write is retried: correct, but about a second each); taken in the key
   * column's order they never do. A third client meanwhile locks the rows of the keys the two
   * orders disagree on with {@code ORDER BY key FOR UPDATE}, as the PostgreSQL documentation
   * advises: it deadlocks with KVLog unless KVLog's order is the key column's (code points), not
   * String's (UTF-16). Measured in a database of the test's own, since pg_stat_database counts per
   * database and other tests share the test database.
   */
  @Test
  void oppositeOrderBatches_neverDeadlock_andAllApply() throws Exception {
    String dbUrl = ownDatabase();
    // Without the right to create a database: the shared one, where other tests' deadlocks count.
    String url = dbUrl != null ? dbUrl : schema.url();
    try {
      long deadlocksBefore = deadlocks(url);
      int batches = 30;
      // Keys whose UTF-16 and code point orders differ (a supplementary character sorts after
      // U+FFFD in the key column, before it in String.compareTo): the order must be the column's.
      List<String> keys = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        keys.add("k" + i);
      }
      keys.add("k\uFFFD");
      keys.add("k\uD83D\uDE00");
      keys.add("k\uE000");
      List<String> unicode = keys.subList(8, keys.size());
      AtomicBoolean writing = new AtomicBoolean(true);
      List<String> descending = new ArrayList<>(keys);
      Collections.reverse(descending);
      try (KVLog<String, String> a = KVLog.builder(url).open();
          KVLog<String, String> b = KVLog.builder(url).open()) {
        WriteBatch<String, String> initial = new WriteBatch<>();
        keys.forEach(k -> initial.set(k, "-"));
        a.write(initial); // rows to lock for the third client
        ExecutorService pool = Executors.newFixedThreadPool(3);
        CountDownLatch start = new CountDownLatch(1);
        List<Future<?>> tasks = new ArrayList<>();
        tasks.add(
            pool.submit(
                () -> {
                  try (Connection c = DriverManager.getConnection(url);
                      PreparedStatement lock =
                          c.prepareStatement(
                              "SELECT key FROM kv WHERE key = ANY(?) ORDER BY key FOR UPDATE")) {
                    c.setAutoCommit(false);
                    lock.setArray(1, c.createArrayOf("text", unicode.toArray()));
                    start.await();
                    while (writing.get()) {
                      try {
                        lock.executeQuery().close();
                        c.commit();
                      } catch (SQLException e) {
                        c.rollback(); // a deadlock: counted by the server, asserted below
                      }
                    }
                  }
                  return null;
                }));
        for (int t = 0; t < 2; t++) {
          KVLog<String, String> store = t == 0 ? a : b;
          List<String> order = t == 0 ? keys : descending;
          String name = t == 0 ? "a" : "b";
          tasks.add(
              pool.submit(
                  () -> {
                    start.await();
                    for (int i = 0; i < batches; i++) {
                      WriteBatch<String, String> batch = new WriteBatch<>();
                      for (String k : order) {
                        batch.set(k, name + i);
                      }
                      batch.set("done-" + name + i, "1");
                      store.write(batch);
                    }
                    return null;
                  }));
        }
        long began = System.nanoTime();
        start.countDown();
        for (Future<?> f : tasks.subList(1, tasks.size())) {
          f.get(300, TimeUnit.SECONDS);
        }
        writing.set(false);
        tasks.get(0).get(30, TimeUnit.SECONDS);
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
        pool.shutdown();
        try (KVLog<String, String> fresh = KVLog.builder(url).open()) {
          for (int i = 0; i < batches; i++) {
            assertThat(fresh.get("done-a" + i)).as("batch a%d applied", i).contains("1");
            assertThat(fresh.get("done-b" + i)).as("batch b%d applied", i).contains("1");
          }
          String last = fresh.get(keys.get(0)).orElseThrow();
          assertThat(last).isIn("a" + (batches - 1), "b" + (batches - 1));
          for (String k : keys) {
            assertThat(fresh.get(k)).as("every key from the batch committed last").contains(last);
          }
        }
        // A backend reports its statistics when idle or exiting: give the closed pools' a moment.
        Thread.sleep(2_000);
        assertThat(deadlocks(url) - deadlocksBefore)
            .as("deadlocks during %d opposite-order batches (%d ms)", 2 * batches, millis)
            .isZero();
      }
    } finally {
      if (dbUrl != null) {
        dropDatabase(dbUrl);
      }
    }
  }

  private static final Pattern DATABASE_IN_URL =
      Pattern.compile("^(jdbc:postgresql://[^/?]+/)([^?]*)(.*)$");

  /** A URL of a new database on the test server, or null if this user may not create one. */
  private static String ownDatabase() {
    String base = PostgresTestServer.url();
    Matcher m = DATABASE_IN_URL.matcher(base);
    if (!m.matches()) {
      return null;
    }
    String name = "kvlog_deadlocks_" + Long.toHexString(System.nanoTime());
    try (Connection c = DriverManager.getConnection(base);
        Statement s = c.createStatement()) {
      s.execute("CREATE DATABASE " + name);
    } catch (SQLException e) {
      return null;
    }
    return m.group(1) + name + m.group(3);
  }

  private static void dropDatabase(String dbUrl) throws SQLException {
    Matcher m = DATABASE_IN_URL.matcher(dbUrl);
    assertThat(m.matches()).isTrue();
    try (Connection c = DriverManager.getConnection(PostgresTestServer.url());
        Statement s = c.createStatement()) {
      s.execute("DROP DATABASE IF EXISTS " + m.group(2) + " WITH (FORCE)");
    }
  }

  /** The server's count of deadlocks detected in the database {@code url} names. */
  private static long deadlocks(String url) throws SQLException {
    try (Connection c = DriverManager.getConnection(url);
        Statement s = c.createStatement()) {
      s.execute("SELECT pg_stat_clear_snapshot()");
      try (ResultSet rs =
          s.executeQuery(
              "SELECT coalesce(sum(deadlocks), 0) FROM pg_stat_database"
                  + " WHERE datname = current_database()")) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  /** Within the documented bound (100 ms poll plus a round trip), with a wide margin for CI. */
  static void awaitValue(KVStore<String, String> store, String key, String value)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!store.get(key).equals(Optional.ofNullable(value)) && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(store.get(key)).as("%s in %s", key, store).isEqualTo(Optional.ofNullable(value));
  }

  /**
   * The crash variant, in two JVMs: a child instance increments and acknowledges each increment to
   * a file; it is killed; this JVM's instance keeps incrementing meanwhile. The counter must hold
   * every acknowledged increment of both (plus at most the child's one in flight).
   */
  @Test
  void killedInstance_losesNoAcknowledgedIncrement() throws Exception {
    Path acks = dir.resolve("acks");
    Process child = ChildJvm.start(CounterChild.class, schema.url(), acks.toString());
    BufferedReader out =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
    assertThat(out.readLine()).isEqualTo("READY");
    int mine = 0;
    try (KVLog<String, String> store = KVLog.builder(schema.url()).open()) {
      // At least 800 ms, and until the child has acknowledged some increments too: CAS is not
      // fair, and an instance that pauses 1 ms between increments leaves the other room.
      long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(800);
      long cap = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (System.nanoTime() < until || (Files.size(acks) < 40 && System.nanoTime() < cap)) {
        increment(store);
        mine++;
        Thread.sleep(1);
      }
      child.destroyForcibly();
      assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
      int theirs = Files.readAllLines(acks).size();
      assertThat(theirs).as("the child acknowledged increments").isPositive();
      long counter;
      try (KVLog<String, String> fresh = KVLog.builder(schema.url()).open()) {
        counter = fresh.get("counter").map(Long::parseLong).orElse(0L); // loaded from the table
      }
      assertThat(counter).isBetween((long) mine + theirs, (long) mine + theirs + 1);
      TortureSummary.record(
          "PostgreSQL: instance killed mid-CAS, other instance going on", 1, mine + theirs, 0);
    }
  }

  /** The child of {@link #killedInstance_losesNoAcknowledgedIncrement}. */
  static final class CounterChild {
    public static void main(String[] args) throws Exception {
      KVLog<String, String> store = KVLog.builder(args[0]).open();
      try (FileOutputStream acks = new FileOutputStream(args[1])) {
        System.out.println("READY");
        System.out.flush();
        for (int n = 0; ; n++) {
          increment(store);
          acks.write((n + "\n").getBytes(StandardCharsets.US_ASCII));
        }
      }
    }
  }
}
