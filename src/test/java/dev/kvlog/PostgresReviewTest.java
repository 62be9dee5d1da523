package dev.kvlog;

import static dev.kvlog.Backdoor.feedReconnects;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The outside review of the PostgreSQL backend (/work/review-pg, findings 1-5), each turned into a
 * regression test.
 */
class PostgresReviewTest {
  @RegisterExtension final FaultProxiedPostgres pg = new FaultProxiedPostgres();

  static void sql(String url, String statement) throws SQLException {
    try (Connection c = DriverManager.getConnection(url);
        Statement s = c.createStatement()) {
      s.execute(statement);
    }
  }

  // ---- finding 5: schema names of 58..63 bytes ----

  /**
   * Old code opened (and migrated) such a schema, then every write failed with "channel name too
   * long". Now opening refuses it before creating anything; 57 bytes still work.
   */
  @Test
  void open_schemaNameTooLongForTheChannel_isRefusedBeforeAnythingIsCreated() throws Exception {
    String base = PostgresTestServer.url();
    String stem = "kvlog_test_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    String fits = stem + "x".repeat(57 - stem.length());
    String tooLong = fits + "y";
    String sep = base.contains("?") ? "&" : "?";
    sql(base, "CREATE SCHEMA " + fits);
    sql(base, "CREATE SCHEMA " + tooLong);
    try {
      assertThatThrownBy(() -> KVLog.builder(base + sep + "currentSchema=" + tooLong).open())
          .isInstanceOf(StoreOpenException.class)
          .hasMessageContaining("58 bytes")
          .hasMessageContaining("at most 57 bytes");
      try (Connection c = DriverManager.getConnection(base);
          Statement s = c.createStatement();
          ResultSet rs =
              s.executeQuery(
                  "SELECT count(*) FROM pg_tables WHERE schemaname = '" + tooLong + "'")) {
        rs.next();
        assertThat(rs.getInt(1)).as("tables created in the refused schema").isZero();
      }
      try (KVLog<String, String> store =
          KVLog.builder(base + sep + "currentSchema=" + fits).open()) {
        assertThat(store.set("k", "v")).isEmpty();
        assertThat(store.get("k")).contains("v");
      }
    } finally {
      sql(base, "DROP SCHEMA IF EXISTS " + fits + " CASCADE");
      sql(base, "DROP SCHEMA IF EXISTS " + tooLong + " CASCADE");
    }
  }

  // ---- finding 2: "keys of any length" ----

  /** Random text from a 64-character alphabet: pglz cannot compress it. */
  static String incompressible(int length) {
    String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    java.util.Random random = new java.util.Random(length);
    StringBuilder b = new StringBuilder(length);
    for (int i = 0; i < length; i++) {
      b.append(alphabet.charAt(random.nextInt(alphabet.length())));
    }
    return b.toString();
  }

  /**
   * Old code sent a 2.7 KB incompressible key to the server, which refused it ("index row size
   * exceeds btree version 4 maximum 2704") as a WriteFailedException. Now every key up to the
   * documented limit works, in kv and (after a delete) in kv_tombstone, and one byte more is
   * refused up front with IllegalArgumentException naming the limit.
   */
  @Test
  void longKeys_upToTheLimitWork_andLongerOnesAreRefusedUpFront() {
    try (KVLog<String, String> store = KVLog.builder(pg.url()).open()) {
      String atLimit = incompressible(2048);
      assertThat(store.set(atLimit, "1")).isEmpty();
      assertThat(store.compareAndSet(atLimit, "1", "2")).isTrue();
      assertThat(store.delete(atLimit)).contains("2");
      assertThat(store.setIfAbsent(atLimit, "3")).isEmpty();
      assertThat(store.get(atLimit)).contains("3");
      // multi-byte characters count in UTF-8 bytes: 682 x 3 bytes + 2 = 2048
      String wide = "\u20ac".repeat(682) + "ab";
      assertThat(store.set(wide, "w")).isEmpty();

      String over = incompressible(2700);
      assertThatThrownBy(() -> store.set(over, "x"))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("2700 bytes")
          .hasMessageContaining("at most 2048 bytes")
          .hasMessageContaining("btree");
      assertThatThrownBy(() -> store.set(incompressible(2049), "x"))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> store.set(wide + "c", "x"))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> store.setIfAbsent(over, "x"))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> store.compareAndSet(over, null, "x"))
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> store.write(new WriteBatch<String, String>().set(over, "x")))
          .isInstanceOf(IllegalArgumentException.class);
      assertThat(store.delete(over)).isEmpty(); // reads and deletes take any key
      assertThat(store.get(over)).isEmpty();
    }
  }

  // ---- finding 1: a full reload never removed keys absent from the table ----

  /** Kills the listener backend of the instance behind the proxy; it reconnects and reloads. */
  void terminateListener() throws SQLException {
    java.util.List<Integer> ports = pg.proxy().serverSidePorts(FaultProxy.clientSent("LISTEN"));
    assertThat(ports).isNotEmpty(); // the newest is the live one; black-holed ones stay listed
    try (Connection admin = DriverManager.getConnection(pg.url());
        java.sql.PreparedStatement s =
            admin.prepareStatement(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    + " WHERE client_port = ? AND client_addr IN ('127.0.0.1', '::1')")) {
      s.setInt(1, ports.get(ports.size() - 1));
      try (ResultSet rs = s.executeQuery()) {
        rs.next();
        assertThat(rs.getInt(1)).isEqualTo(1);
      }
    }
  }

  /**
   * An external TRUNCATE, a key-renaming UPDATE and a cleaned-up tombstone leave keys in the cache
   * that the table no longer has. Old code served them forever, even after the feed reconnected and
   * "reloaded everything"; now the reload removes them, and keeps this instance's own newer write
   * of a key that was also truncated.
   */
  @Test
  void reload_removesKeysGoneFromTheTable_andKeepsNewerOnes() throws Exception {
    try (KVLog<String, String> a = pg.viaProxy()) {
      a.set("truncated", "1");
      a.set("old-name", "2");
      a.set("deleted", "3");
      long reconnects = feedReconnects(a);
      // the instance misses a delete (its feed black-holed), then the tombstone is cleaned up
      pg.proxy().blackHole(FaultProxy.clientSent("LISTEN"));
      sql(pg.url(), "DELETE FROM kv WHERE key = 'deleted'");
      sql(pg.url(), "DELETE FROM kv_tombstone WHERE key = 'deleted'");
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (feedReconnects(a) == reconnects && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(feedReconnects(a)).isGreaterThan(reconnects);
      sql(pg.url(), "UPDATE kv SET key = 'new-name' WHERE key = 'old-name'");
      sql(pg.url(), "TRUNCATE kv, kv_tombstone");
      terminateListener();
      deadline = System.nanoTime() + 10_000_000_000L;
      while (feedReconnects(a) < reconnects + 2 && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(feedReconnects(a)).isEqualTo(reconnects + 2);
      assertThat(a.get("truncated")).as("truncated").isEmpty();
      assertThat(a.get("old-name")).as("renamed away").isEmpty();
      assertThat(a.get("new-name")).as("renamed to, then truncated").isEmpty();
      assertThat(a.get("deleted")).as("deleted, tombstone cleaned").isEmpty();
      assertThat(a.size()).isZero();
      assertThat(a.set("truncated", "4")).isEmpty(); // the table decides prior values
      terminateListener();
      deadline = System.nanoTime() + 10_000_000_000L;
      while (feedReconnects(a) < reconnects + 3 && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(a.get("truncated")).contains("4");
    }
  }

  // ---- finding 3: re-reading after outcomeUnknown did not settle the outcome ----

  /** Waits until one of this instance's connections (through the proxy) waits on a row lock. */
  void awaitLockWait() throws Exception {
    long deadline = System.nanoTime() + 10_000_000_000L;
    try (Connection admin = DriverManager.getConnection(pg.url());
        java.sql.PreparedStatement s =
            admin.prepareStatement(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    + " AND client_port = ANY(?) AND client_addr IN ('127.0.0.1', '::1')")) {
      while (System.nanoTime() < deadline) {
        s.setArray(
            1,
            admin.createArrayOf(
                "integer", pg.proxy().serverSidePorts(l -> true).toArray(new Integer[0])));
        try (ResultSet rs = s.executeQuery()) {
          rs.next();
          if (rs.getInt(1) > 0) {
            return;
          }
        }
        Thread.sleep(20);
      }
    }
    throw new AssertionError("the write never waited on the row lock");
  }

  /**
   * run.sh Orphan: an autocommitted CAS waits on a row lock another transaction holds; its
   * connection is lost (outcome unknown). The caller re-reads as advised, then the lock is freed.
   * Old code: get() said "0", and the orphaned UPDATE, still running on the server, committed "1"
   * afterwards, so a caller's retry double-applied. Now get() first ends that server process, so
   * what it returns is final.
   */
  @Test
  void get_afterOutcomeUnknown_settlesTheOutcome_evenIfTheStatementOutlivedItsConnection()
      throws Exception {
    try (KVLog<String, String> store = pg.viaProxy();
        Connection locker = DriverManager.getConnection(pg.url())) {
      store.set("c", "0");
      locker.setAutoCommit(false);
      try (Statement s = locker.createStatement()) {
        s.executeQuery("SELECT * FROM kv WHERE key = 'c' FOR UPDATE").close();
      }
      Thread cutter =
          new Thread(
              () -> {
                try {
                  awaitLockWait();
                } catch (Exception | AssertionError e) {
                  // the CAS below then blocks until the lock is freed: the test fails on its value
                }
                pg.proxy().restart(0);
              });
      cutter.start();
      assertThatThrownBy(() -> store.compareAndSet("c", "0", "1"))
          .isInstanceOfSatisfying(
              WriteFailedException.class, e -> assertThat(e.outcomeUnknown()).isTrue());
      cutter.join();
      String seen = store.get("c").orElse(null);
      locker.commit(); // the lock is free: an orphaned UPDATE would commit now
      Thread.sleep(500);
      assertThat(inDatabase("c")).as("the table after the lock was freed").isEqualTo(seen);
      assertThat(seen).isEqualTo("0");
      assertThat(store.compareAndSet("c", "0", "1")).isTrue(); // the caller's retry
      Thread.sleep(200);
      assertThat(inDatabase("c")).isEqualTo("1"); // one increment, not two
    }
  }

  String inDatabase(String key) throws SQLException {
    try (Connection c = DriverManager.getConnection(pg.url());
        java.sql.PreparedStatement s = c.prepareStatement("SELECT value FROM kv WHERE key = ?")) {
      s.setString(1, key);
      try (ResultSet rs = s.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }
  }

  // ---- finding 4: no fallback when the feed cannot reconnect but the pool works ----

  /**
   * run.sh Stale refuseNewAndCutFeed: the listener's connection dies silently and new connections
   * are refused, while the pool's connections still work. Old code served the value from before the
   * fault for as long as the refusal lasted (here 20 s) without telling anyone; now reads go to the
   * table once the feed is older than the bound allows, so B's write shows within the bound.
   */
  @Test
  void feedCannotReconnect_butPoolWorks_readsStayWithinTheBound() throws Exception {
    try (KVLog<String, String> a = pg.viaProxy();
        KVLog<String, String> b = KVLog.builder(pg.url()).open()) {
      b.set("x", "0");
      PostgresFaultsTest.millisUntilVisible(a, "x", "0");
      pg.proxy().refuseNew(20_000);
      assertThat(pg.proxy().blackHole(FaultProxy.clientSent("LISTEN"))).isEqualTo(1);
      b.set("x", "1");
      long ms = PostgresFaultsTest.millisUntilVisible(a, "x", "1");
      System.out.printf("staleness with the feed down and the pool up: %d ms%n", ms);
      assertThat(ms).isLessThanOrEqualTo(PostgresFaultsTest.BOUND_MS);
      assertThat(feedReconnects(a)).as("the feed really was down all along").isZero();
      assertThat(a.set("x", "2")).contains("1"); // and read-your-writes holds
      assertThat(a.get("x")).contains("2");
    }
  }

  /**
   * The same, but the table cannot be read either (here: renamed away, which fails at once where an
   * unreachable server would make the pool wait): get() throws, naming the feed and the bound,
   * instead of serving the stale cached value. Old code served "0" throughout.
   */
  @Test
  void feedCannotReconnect_andTableUnreadable_getThrowsInsteadOfServingStaleData()
      throws Exception {
    try (KVLog<String, String> a = pg.viaProxy()) {
      a.set("x", "0");
      pg.proxy().refuseNew(30_000);
      assertThat(pg.proxy().blackHole(FaultProxy.clientSent("LISTEN"))).isEqualTo(1);
      sql(pg.url(), "ALTER TABLE kv RENAME TO kv_away");
      long start = System.nanoTime();
      KVLogException thrown = null;
      while (thrown == null && System.nanoTime() - start < 3 * PostgresFaultsTest.BOUND_MS * 1e6) {
        try {
          assertThat(a.get("x")).contains("0");
          Thread.sleep(20);
        } catch (KVLogException e) {
          thrown = e;
        }
      }
      long ms = (System.nanoTime() - start) / 1_000_000;
      assertThat(thrown).as("get() kept serving the cache for %d ms", ms).isNotNull();
      assertThat(ms).isLessThanOrEqualTo(PostgresFaultsTest.BOUND_MS);
      assertThat(thrown)
          .hasMessageContaining("change feed")
          .hasMessageContaining("staleness bound")
          .hasMessageContaining("retry once the server is reachable");
      sql(pg.url(), "ALTER TABLE kv_away RENAME TO kv");
      assertThat(a.get("x")).contains("0"); // read from the table again
    }
  }

  /** Round-2 review: settling by pid alone could end an unrelated session that reused the pid. */
  @Test
  void endBackends_neverTerminatesASessionOfAnotherApplication() throws Exception {
    String url = pg.url();
    try (java.sql.Connection other =
            java.sql.DriverManager.getConnection(url + "&ApplicationName=someone-else");
        java.sql.Connection ours =
            java.sql.DriverManager.getConnection(url + "&ApplicationName=kvlog")) {
      int pid = other.unwrap(org.postgresql.PGConnection.class).getBackendPID();
      dev.kvlog.postgres.PgWritesAccess.endBackends(ours, java.util.Set.of(pid));
      try (java.sql.Statement s = other.createStatement()) {
        s.execute("SELECT 1"); // still alive: it was not ours to end
      }
    }
  }
}
