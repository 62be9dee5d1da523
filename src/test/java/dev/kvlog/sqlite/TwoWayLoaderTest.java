package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kvlog.CorruptValueException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sqlite.SQLiteConnection;
import org.sqlite.SQLiteLimits;

/**
 * {@link TwoWayLoader}: the two readers together deliver every key exactly once, from one committed
 * state, whatever the table's size, the keys' bytes and where the readers meet.
 */
class TwoWayLoaderTest {
  @TempDir Path dir;

  private int files;

  private Connection connect() throws SQLException {
    return DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("t" + files + ".db"));
  }

  /** A new file in WAL mode with the kv table holding {@code rows}; returns its connection. */
  private Connection table(Map<String, String> rows) throws SQLException {
    files++;
    Connection c = connect();
    try (Statement s = c.createStatement()) {
      s.execute("PRAGMA journal_mode=WAL");
      s.execute("CREATE TABLE kv(key TEXT PRIMARY KEY, value TEXT) STRICT, WITHOUT ROWID");
    }
    insert(c, rows);
    return c;
  }

  private static void insert(Connection c, Map<String, String> rows) throws SQLException {
    c.setAutoCommit(false);
    try (PreparedStatement insert = c.prepareStatement("INSERT OR REPLACE INTO kv VALUES (?, ?)")) {
      for (Map.Entry<String, String> e : rows.entrySet()) {
        insert.setString(1, e.getKey());
        insert.setString(2, e.getValue());
        insert.executeUpdate();
      }
    }
    c.commit();
    c.setAutoCommit(true);
  }

  /** Loads on two connections and counts how often each key was delivered. */
  private Map<String, String> loadCountingDuplicates(
      Connection c,
      Connection helper,
      long chunkBytes,
      int maxRows,
      TableLoader.SqlRunnable inSnapshot)
      throws SQLException {
    Map<String, String> loaded = new ConcurrentHashMap<>();
    Map<String, AtomicInteger> deliveries = new ConcurrentHashMap<>();
    try (Connection pinner = connect()) {
      TwoWayLoader.readAll(
          c,
          helper,
          pinner,
          inSnapshot,
          expected ->
              () ->
                  (k, v) -> {
                    deliveries.computeIfAbsent(k, x -> new AtomicInteger()).incrementAndGet();
                    loaded.put(k, v);
                  },
          chunkBytes,
          maxRows);
    }
    assertThat(deliveries.values()).allSatisfy(n -> assertThat(n.get()).isEqualTo(1));
    return loaded;
  }

  /** Keys whose UTF-8 order differs from Java's UTF-16 order, non-ASCII, the empty key. */
  private static final List<String> SPECIAL =
      List.of("", "a", "é", "\uFFFF", "😀", "😀x", "\u0000", "z\u0000z", "日本", "\uD7FF", "\uE000");

  @Test
  void readAll_tablesOfEverySmallSize_deliverEachKeyOnce_atEveryMeetingPoint() throws Exception {
    Random random = new Random(14);
    for (int size = 0; size <= 40; size++) {
      for (int maxRows : new int[] {1, 2, 3, 7, TableLoader.CHUNK_ROWS}) {
        long budget = new long[] {1, 60, 400, TableLoader.CHUNK_BYTES}[size % 4];
        Map<String, String> rows = new HashMap<>();
        for (int i = 0; rows.size() < size; i++) {
          String key =
              i < SPECIAL.size()
                  ? SPECIAL.get(i)
                  : "k" + random.nextInt(1000) + SPECIAL.get(i % 11);
          rows.put(key, "v" + i + "é".repeat(random.nextInt(3)));
        }
        try (Connection c = table(rows);
            Connection helper = connect()) {
          assertThat(loadCountingDuplicates(c, helper, budget, maxRows, () -> {}))
              .as("size %d, budget %d, rows %d", size, budget, maxRows)
              .isEqualTo(rows);
        }
      }
    }
  }

  @Test
  void readAll_manyRows_deliverEachKeyOnce_andTheMapIsSizedOnceForThem() throws Exception {
    Map<String, String> rows = new HashMap<>();
    for (int i = 0; i < 50_000; i++) {
      rows.put(String.format("key-%08d", i) + SPECIAL.get(i % SPECIAL.size()), "value " + i);
    }
    try (Connection c = table(rows);
        Connection helper = connect();
        Connection pinner = connect()) {
      int[] expected = {-1};
      Map<String, String> loaded = new ConcurrentHashMap<>();
      TwoWayLoader.readAll(
          c,
          helper,
          pinner,
          () -> {},
          n -> {
            expected[0] = n;
            return () -> loaded::put;
          },
          TableLoader.CHUNK_BYTES);
      assertThat(loaded).isEqualTo(rows);
      assertThat(expected[0]).isBetween(rows.size(), rows.size() * 3);
      assertThat(loadCountingDuplicates(c, helper, 4_000, TableLoader.CHUNK_ROWS, () -> {}))
          .isEqualTo(rows);
    }
  }

  /**
   * Forces the overlap the claims exist for: the upward reader's second chunk (queried while the
   * downward one had claimed nothing) reaches past what the downward reader claims meanwhile, so it
   * must keep only the keys below that claim; the downward reader's next chunk, which returns after
   * the load is complete, must be dropped.
   */
  @Test
  void readAll_chunksOverlapTheOtherReadersClaim_trimmedOrDropped_eachKeyOnce() throws Exception {
    Map<String, String> rows = new HashMap<>();
    for (int i = 0; i < 100; i++) {
      rows.put(String.format("k%03d", i), "v" + i);
    }
    CountDownLatch upQueriedTwice = new CountDownLatch(1);
    CountDownLatch downQueriedTwice = new CountDownLatch(1);
    CountDownLatch upClaimedTwice = new CountDownLatch(1);
    AtomicInteger upQueries = new AtomicInteger();
    AtomicInteger upClaims = new AtomicInteger();
    AtomicInteger downQueries = new AtomicInteger();
    AtomicInteger downClaims = new AtomicInteger();
    TwoWayLoader.hookForTests =
        (up, event) -> {
          if (up && event.equals("queried") && upQueries.incrementAndGet() == 2) {
            upQueriedTwice.countDown(); // its bound: nothing claimed by the downward reader
            await(downQueriedTwice); // so the downward reader has claimed its first chunk
          } else if (up && event.equals("claimed") && upClaims.incrementAndGet() == 2) {
            upClaimedTwice.countDown();
          } else if (!up && event.equals("queried")) {
            if (downQueries.incrementAndGet() == 1) {
              await(upQueriedTwice);
            } else {
              downQueriedTwice.countDown();
              await(upClaimedTwice);
            }
          } else if (!up && event.equals("claimed")) {
            downClaims.incrementAndGet();
          }
        };
    try (Connection c = table(rows);
        Connection helper = connect()) {
      // Chunks of 40: up claims k000-k039, queries k040-k079; down claims k099-k060; up keeps
      // k040-k059 and completes the load; down's k059-k040 (queried after) is dropped.
      assertThat(loadCountingDuplicates(c, helper, TableLoader.CHUNK_BYTES, 40, () -> {}))
          .isEqualTo(rows);
      assertThat(upClaims.get()).isEqualTo(2);
      assertThat(downQueries.get()).isEqualTo(2);
      assertThat(downClaims.get()).isEqualTo(1);
    } finally {
      TwoWayLoader.hookForTests = null;
    }
  }

  private static void await(CountDownLatch latch) {
    try {
      if (!latch.await(10, TimeUnit.SECONDS)) {
        throw new AssertionError("the readers did not interleave as arranged");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  /** Rows too large to share a chunk, or to be concatenated at all, load from both ends too. */
  @Test
  void readAll_rowsNearSqlitesLengthLimit_allLoadOnce() throws Exception {
    Map<String, String> rows = new HashMap<>();
    for (int i = 0; i < 300; i++) {
      int size = i % 10 == 0 ? 19_990 : i % 3 == 0 ? 6_000 : i;
      rows.put("k" + i, "v".repeat(size) + (i % 2 == 0 ? "" : "é"));
    }
    try (Connection c = table(rows);
        Connection helper = connect()) {
      for (Connection x : List.of(c, helper)) {
        x.unwrap(SQLiteConnection.class).setLimit(SQLiteLimits.SQLITE_LIMIT_LENGTH, 20_000);
      }
      assertThat(loadCountingDuplicates(c, helper, 8_000, TableLoader.CHUNK_ROWS, () -> {}))
          .isEqualTo(rows);
    }
  }

  /**
   * Another connection (busy_timeout 0, as {@code sqlite3} scripts often run) commits while both
   * readers are mid-load: it succeeds at once (the load holds no lock), the load still delivers the
   * pinned state (every value of one generation, each key once: the downward reader, which had read
   * nothing yet, must not see the commit), and {@code data_version} recorded in the snapshot moves,
   * so the writer reloads the commit afterwards.
   */
  @Test
  void readAll_anotherConnectionCommitsDuringTheLoad_commitSucceeds_loadHoldsThePinnedState()
      throws Exception {
    Map<String, String> rows = new HashMap<>();
    for (int i = 0; i < 2_000; i++) {
      rows.put(String.format("k%05d", i), "gen0");
    }
    try (Connection c = table(rows);
        Connection helper = connect();
        Connection other = connect()) {
      try (Statement s = other.createStatement()) {
        s.execute("PRAGMA busy_timeout = 0");
      }
      List<String> otherOutcome = new ArrayList<>();
      AtomicInteger upClaims = new AtomicInteger();
      TwoWayLoader.hookForTests =
          (up, event) -> {
            if (up && event.equals("claimed") && upClaims.incrementAndGet() == 1) {
              try (Statement s = other.createStatement()) {
                s.executeUpdate("UPDATE kv SET value = 'gen1'");
                s.executeUpdate("INSERT INTO kv VALUES ('new', 'gen1')");
                otherOutcome.add("committed");
              } catch (SQLException e) {
                otherOutcome.add("failed " + Errors.primaryCode(e));
              }
            }
          };
      long[] version = new long[1];
      Map<String, String> loaded;
      try {
        loaded =
            loadCountingDuplicates(
                c,
                helper,
                TableLoader.CHUNK_BYTES,
                50, // small chunks: many queries on both sides after the commit
                () -> version[0] = Long.parseLong(Database.pragma(c, "data_version")));
      } finally {
        TwoWayLoader.hookForTests = null;
      }
      assertThat(otherOutcome).containsExactly("committed");
      assertThat(loaded).isEqualTo(rows);
      assertThat(Long.parseLong(Database.pragma(c, "data_version")))
          .as("the commit during the load is detected afterwards")
          .isNotEqualTo(version[0]);
    }
  }

  /**
   * A commit racing the pin: while the first reader has begun its snapshot and the second has not,
   * nobody can commit (the third connection holds the write lock), so both readers see one state.
   * Then commits race whole loads from another thread: every load is exactly one committed state.
   */
  @Test
  void readAll_commitsRacingThePin_eachLoadIsOneCommittedState() throws Exception {
    Map<String, String> rows = new HashMap<>();
    for (int i = 0; i < 2_000; i++) {
      rows.put(String.format("k%05d", i), "g0");
    }
    rows.put("x0", "g0");
    try (Connection c = table(rows);
        Connection helper = connect();
        Connection other = connect()) {
      try (Statement s = other.createStatement()) {
        s.execute("PRAGMA busy_timeout = 0");
        s.execute("PRAGMA synchronous = OFF");
      }
      int[] generation = {0};
      List<String> duringPin = new ArrayList<>();
      TwoWayLoader.hookForTests =
          (up, event) -> {
            if (event.equals("pinning")) {
              try {
                commitGeneration(other, generation[0] + 1);
                generation[0]++;
                duringPin.add("committed");
              } catch (SQLException e) {
                duringPin.add("failed " + Errors.primaryCode(e));
              }
            }
          };
      try {
        assertOneGeneration(
            loadCountingDuplicates(c, helper, TableLoader.CHUNK_BYTES, 50, () -> {}));
      } finally {
        TwoWayLoader.hookForTests = null;
      }
      assertThat(duringPin).containsExactly("failed 5");

      AtomicInteger commits = new AtomicInteger();
      java.util.concurrent.atomic.AtomicBoolean stop =
          new java.util.concurrent.atomic.AtomicBoolean();
      Thread writer =
          new Thread(
              () -> {
                for (int g = generation[0] + 1; !stop.get(); ) {
                  try {
                    commitGeneration(other, g);
                    g++;
                    commits.incrementAndGet();
                  } catch (SQLException e) {
                    Thread.onSpinWait(); // busy during a pin: try again
                  }
                }
              });
      writer.start();
      try {
        for (int i = 0; i < 30; i++) {
          assertOneGeneration(
              loadCountingDuplicates(c, helper, TableLoader.CHUNK_BYTES, 20 + i, () -> {}));
        }
      } finally {
        stop.set(true);
        writer.join();
      }
      assertThat(commits.get()).as("commits raced the loads").isPositive();
    }
  }

  /** Generation g: every value "g" + g, and the one moving key "x" + g instead of x(g-1). */
  private static void commitGeneration(Connection other, int g) throws SQLException {
    try (Statement s = other.createStatement()) {
      s.execute("BEGIN IMMEDIATE");
      try {
        s.executeUpdate("UPDATE kv SET value = 'g" + g + "'");
        s.executeUpdate("UPDATE kv SET key = 'x" + g + "' WHERE key = 'x" + (g - 1) + "'");
        s.execute("COMMIT");
      } catch (SQLException e) {
        s.execute("ROLLBACK");
        throw e;
      }
    }
  }

  private static void assertOneGeneration(Map<String, String> loaded) {
    assertThat(loaded).hasSize(2_001);
    assertThat(new java.util.HashSet<>(loaded.values())).hasSize(1);
    String g = loaded.values().iterator().next().substring(1);
    assertThat(loaded).containsEntry("x" + g, "g" + g);
  }

  /**
   * Another connection holding a write transaction: the load does not wait for it, reads on one
   * connection, sees only committed rows, and leaves the busy timeout as it was.
   */
  @Test
  void readAll_writeLockTaken_loadsOnOneConnection_andRestoresTheBusyTimeout() throws Exception {
    Map<String, String> rows = new HashMap<>();
    for (int i = 0; i < 500; i++) {
      rows.put("k" + i, "v" + i);
    }
    try (Connection c = table(rows);
        Connection helper = connect();
        Connection other = connect()) {
      try (Statement s = c.createStatement()) {
        s.execute("PRAGMA busy_timeout = 3210");
      }
      try (Statement s = other.createStatement()) {
        s.execute("BEGIN IMMEDIATE");
        s.executeUpdate("UPDATE kv SET value = 'uncommitted'");
        assertThat(loadCountingDuplicates(c, helper, 300, 20, () -> {})).isEqualTo(rows);
        s.execute("ROLLBACK");
      }
      assertThat(Database.pragma(c, "busy_timeout")).isEqualTo("3210");
      assertThat(loadCountingDuplicates(c, helper, 300, 20, () -> {})).isEqualTo(rows);
      assertThat(Database.pragma(c, "busy_timeout")).isEqualTo("3210");
      assertThat(c.getAutoCommit()).isTrue();
      try (Statement s = c.createStatement()) {
        s.execute("BEGIN IMMEDIATE"); // the load's transaction ended
        s.execute("ROLLBACK");
      }
    }
  }

  /**
   * The estimate presizes buffers: a first chunk of tiny rows in a file of huge ones (or of free
   * pages) must not make it larger than the cap the heap allows, nor count free pages.
   */
  @Test
  void estimateRows_tinyFirstRowsThenHugeOnes_neverAboveTheCap_andFreePagesDoNotCount()
      throws Exception {
    Map<String, String> rows = new HashMap<>();
    for (int i = 0; i < 8_192; i++) {
      rows.put(String.format("a%04d", i), "v");
    }
    for (int i = 0; i < 50; i++) {
      rows.put("z" + i, "x".repeat(100_000));
    }
    try (Connection c = table(rows)) {
      long tinyChunk = 8_192 * 9; // "5,a00001,v" less a byte: the first chunk's bytes
      assertThat(TwoWayLoader.estimateRows(c, 8_192, 8_192, tinyChunk, 20_000))
          .as("5 MB of used pages at 9 bytes per row, capped")
          .isEqualTo(20_000);
      try (Statement s = c.createStatement()) {
        s.executeUpdate("DELETE FROM kv WHERE key LIKE 'z%'"); // free pages now, no VACUUM
      }
      assertThat(TwoWayLoader.estimateRows(c, 8_192, 8_192, tinyChunk, Long.MAX_VALUE))
          .as("the used pages of 8,192 tiny rows")
          .isBetween(8_192, 8_192 * 3);
    }
    assertThat(TwoWayLoader.heapCap()).isLessThan(Runtime.getRuntime().maxMemory() / 100);
  }

  /** Invalid UTF-8 in either half, found by either reader, fails the load naming the key. */
  @Test
  void readAll_invalidUtf8NearEitherEnd_failsNamingIt() throws Exception {
    Map<String, String> rows = new HashMap<>();
    for (int i = 0; i < 3_000; i++) {
      rows.put(String.format("k%05d", i), "v" + i);
    }
    for (String bad : List.of("k00007", "k02993")) {
      try (Connection c = table(rows);
          Connection helper = connect()) {
        try (Statement s = c.createStatement()) {
          s.executeUpdate("UPDATE kv SET value = CAST(x'61ff' AS TEXT) WHERE key = '" + bad + "'");
        }
        assertThatThrownBy(
                () -> loadCountingDuplicates(c, helper, TableLoader.CHUNK_BYTES, 100, () -> {}))
            .isInstanceOf(CorruptValueException.class)
            .hasMessageContaining(bad)
            .hasMessageContaining("x'61ff'");
        assertThat(c.getAutoCommit()).isTrue();
        try (Statement s = c.createStatement()) {
          s.execute("BEGIN IMMEDIATE"); // the failed load's transaction ended
          s.execute("ROLLBACK");
        }
      }
    }
  }
}
