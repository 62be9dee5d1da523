package dev.kvlog;

import static dev.kvlog.Backdoor.feedReconnects;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kvlog.postgres.PostgresBackend;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

/**
 * The PostgreSQL backend under network faults, injected by a {@link FaultProxy} between an instance
 * and the server: ambiguous commits (issue 11, defect 1), read-your-writes while long keys change
 * (defect 2), and change feeds that die silently or loudly (defect 3).
 */
class PostgresFaultsTest {
  /** The staleness bound the README states for other instances' writes. */
  static final long BOUND_MS = PostgresBackend.STALENESS_BOUND_SECONDS * 1000L;

  @RegisterExtension final FaultProxiedPostgres pg = new FaultProxiedPostgres();

  String inDatabase(String key) throws SQLException {
    try (Connection c = DriverManager.getConnection(pg.url());
        PreparedStatement s = c.prepareStatement("SELECT value FROM kv WHERE key = ?")) {
      s.setString(1, key);
      try (ResultSet rs = s.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }
  }

  /**
   * The value of {@code key} once it is {@code expected} (at most 5 s): the server runs a forwarded
   * statement on its own time, after the client saw the cut. Tests wait for that commit before
   * get(), which would otherwise end the server process and so settle the write as not applied.
   */
  String awaitInDatabase(String key, String expected) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (!expected.equals(inDatabase(key)) && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    return inDatabase(key);
  }

  // ---- defect 1: outcomes ----

  /**
   * The connection is cut right after COMMIT reached the server, so the write is applied but its
   * acknowledgement lost. Old code: outcomeUnknown() false, "retrying is safe", cause "Connection
   * is closed" (the rollback's error), and get() served the old value.
   */
  @Test
  void set_cutAfterCommitSent_isOutcomeUnknown_andGetRereads() throws Exception {
    try (KVLog<String, String> store = pg.viaProxy()) {
      store.set("k", "v1");
      pg.proxy().cutAfterClientMessage("COMMIT");
      pg.proxy().restartAfterCut(1_000); // and the server is briefly unreachable, as after a crash
      assertThatThrownBy(() -> store.set("k", "v2"))
          .isInstanceOfSatisfying(
              WriteFailedException.class,
              e -> {
                assertThat(e.outcomeUnknown()).as("outcomeUnknown").isTrue();
                assertThat(e.storeFailed()).isFalse();
                assertThat(e).hasMessageContaining("re-read").hasMessageNotContaining("is safe");
                assertThat(e.getCause()).isInstanceOf(SQLException.class);
                assertThat(e.getCause().getMessage()).doesNotContain("Connection is closed");
              });
      assertThat(pg.proxy().cutFired()).isTrue();
      assertThat(awaitInDatabase("k", "v2")).isEqualTo("v2"); // the commit did reach the server
      assertThat(store.get("k")).contains("v2"); // re-read, never the stale cached v1
    }
  }

  /** The same for an autocommitted compare-and-set: a retry would report failure. */
  @Test
  void compareAndSet_cutAfterStatementSent_isOutcomeUnknown() throws Exception {
    try (KVLog<String, String> store = pg.viaProxy()) {
      store.set("k", "v1");
      pg.proxy().cutAfterClientMessage("UPDATE kv SET value");
      pg.proxy().restartAfterCut(1_000);
      assertThatThrownBy(() -> store.compareAndSet("k", "v1", "v2"))
          .isInstanceOfSatisfying(
              WriteFailedException.class, e -> assertThat(e.outcomeUnknown()).isTrue());
      assertThat(awaitInDatabase("k", "v2")).isEqualTo("v2");
      assertThat(store.get("k")).contains("v2");
      assertThat(store.compareAndSet("k", "v1", "v2")).isFalse(); // why callers must re-read
    }
  }

  /**
   * Cut before COMMIT was sent: the server rolls the transaction back, so the failure is reported
   * as not applied, and the cache keeps the value. (Break tried: classifying every failure as
   * unknown.)
   */
  @Test
  void set_cutBeforeCommit_isNotApplied() throws Exception {
    try (KVLog<String, String> store = pg.viaProxy()) {
      store.set("k", "v1");
      pg.proxy().cutAfterClientMessage("UPDATE kv SET value");
      assertThatThrownBy(() -> store.set("k", "v2"))
          .isInstanceOfSatisfying(
              WriteFailedException.class,
              e -> {
                assertThat(e.outcomeUnknown()).as("outcomeUnknown").isFalse();
                assertThat(e).hasMessageContaining("not applied");
              });
      assertThat(inDatabase("k")).isEqualTo("v1");
      assertThat(store.get("k")).contains("v1");
      assertThat(store.set("k", "v3")).contains("v1"); // the pool replaced the cut connection
    }
  }

  // ---- defect 2: versions, bounded notifications, read-your-writes ----

  /** Old code notified '' for keys of 7,000 bytes or more, forcing every instance to reload. */
  @Test
  void longKey_isAnnouncedWithABoundedPayload_andReachesOtherInstances() throws Exception {
    String longKey = "k".repeat(PostgresBackend.MAX_KEY_BYTES); // old code: 7,000+ bytes
    try (KVLog<String, String> a = KVLog.builder(pg.url()).open();
        KVLog<String, String> b = KVLog.builder(pg.url()).open();
        Connection raw = DriverManager.getConnection(pg.url())) {
      String channel;
      try (Statement s = raw.createStatement();
          ResultSet rs = s.executeQuery("SELECT current_schema()")) {
        rs.next();
        channel = "kvlog:" + rs.getString(1);
        s.execute("LISTEN \"" + channel + "\"");
      }
      a.set(longKey, "long");
      List<String> payloads = new ArrayList<>();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (payloads.isEmpty() && System.nanoTime() < deadline) {
        PGNotification[] notes = raw.unwrap(PGConnection.class).getNotifications(200);
        if (notes != null) {
          for (PGNotification n : notes) {
            if (!n.getParameter().startsWith("hb:")) {
              payloads.add(n.getParameter());
            }
          }
        }
      }
      assertThat(payloads).isNotEmpty().allMatch(p -> p.matches("[0-9]{1,19}"));
      PostgresMultiInstanceTest.awaitValue(b, longKey, "long");
      a.delete(longKey);
      PostgresMultiInstanceTest.awaitValue(b, longKey, null);
    }
  }

  /**
   * One instance writes a key and reads it back at once, over and over, while both instances write
   * long keys (old code: a full reload on every such write, which overwrote the cache without
   * locks) and other keys. Every read must return the value just written.
   */
  @Test
  void readYourWrites_holdsWhileLongKeysChangeEverywhere() throws Exception {
    try (KVLog<String, String> a = KVLog.builder(pg.url()).open();
        KVLog<String, String> b = KVLog.builder(pg.url()).open()) {
      WriteBatch<String, String> fill = new WriteBatch<>();
      for (int i = 0; i < 3_000; i++) {
        fill.set("fill-" + i, "x".repeat(50));
      }
      a.write(fill);
      AtomicBoolean stop = new AtomicBoolean();
      List<Thread> noise = new ArrayList<>();
      for (KVLog<String, String> s : List.of(a, b)) {
        Thread t =
            new Thread(
                () -> {
                  for (int i = 0; !stop.get(); i++) {
                    s.set("L".repeat(2_000) + (i % 4), Integer.toString(i));
                  }
                });
        t.start();
        noise.add(t);
      }
      AtomicLong reads = new AtomicLong();
      List<String> violations = new ArrayList<>();
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(4);
      for (int i = 0; System.nanoTime() < until; i++) {
        String v = Integer.toString(i);
        a.set("mine", v);
        // Read for 3 ms after each write: a stale overwrite can land at any time, and a write's
        // own round trips take about as long.
        long readUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(3);
        while (System.nanoTime() < readUntil) {
          reads.incrementAndGet();
          Optional<String> got = a.get("mine");
          if (!got.equals(Optional.of(v)) && violations.size() < 20) {
            violations.add("wrote " + v + ", read " + got);
          }
        }
      }
      stop.set(true);
      for (Thread t : noise) {
        t.join(10_000);
      }
      assertThat(violations).as("stale reads of own writes among %d reads", reads.get()).isEmpty();
    }
  }

  // ---- defect 3: a change feed that cannot die silently ----

  /** How long until {@code store} shows {@code value} under {@code key}; fails past the bound. */
  static long millisUntilVisible(KVStore<String, String> store, String key, String value)
      throws InterruptedException {
    long start = System.nanoTime();
    long deadline = start + TimeUnit.MILLISECONDS.toNanos(BOUND_MS * 3);
    while (!store.get(key).equals(Optional.of(value)) && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(store.get(key)).as("%s on %s", key, store).contains(value);
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
  }

  /** Only the listener's TCP connection is black-holed: no RST, no FIN, nothing delivered. */
  @Test
  void blackHoledListener_isNoticed_andWritesArriveWithinTheBound() throws Exception {
    try (KVLog<String, String> a = pg.viaProxy();
        KVLog<String, String> b = KVLog.builder(pg.url()).open()) {
      b.set("x", "0");
      millisUntilVisible(a, "x", "0");
      assertThat(pg.proxy().blackHole(FaultProxy.clientSent("LISTEN"))).isEqualTo(1);
      b.set("x", "1");
      long ms = millisUntilVisible(a, "x", "1");
      System.out.printf("staleness after a black-holed listener: %d ms%n", ms);
      assertThat(ms).isLessThanOrEqualTo(BOUND_MS);
      assertThat(feedReconnects(a)).isEqualTo(1);
    }
  }

  /** The listener's server backend is killed with pg_terminate_backend. */
  @Test
  void terminatedListenerBackend_isReplaced_andWritesArriveWithinTheBound() throws Exception {
    try (KVLog<String, String> a = pg.viaProxy();
        KVLog<String, String> b = KVLog.builder(pg.url()).open();
        Connection admin = DriverManager.getConnection(pg.url())) {
      List<Integer> ports = pg.proxy().serverSidePorts(FaultProxy.clientSent("LISTEN"));
      assertThat(ports).hasSize(1);
      try (PreparedStatement s =
          admin.prepareStatement(
              "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                  + " WHERE client_port = ? AND client_addr IN ('127.0.0.1', '::1')")) {
        s.setInt(1, ports.get(0));
        try (ResultSet rs = s.executeQuery()) {
          rs.next();
          assertThat(rs.getInt(1)).isEqualTo(1);
        }
      }
      b.set("y", "1");
      long ms = millisUntilVisible(a, "y", "1");
      System.out.printf("staleness after pg_terminate_backend of the listener: %d ms%n", ms);
      assertThat(ms).isLessThanOrEqualTo(BOUND_MS);
    }
  }

  /**
   * What a server restart looks like to the instance: every connection cut, new ones refused for 3
   * s. Writes made meanwhile (by an instance that can reach the server) arrive within the bound
   * once the server is reachable again.
   */
  @Test
  void serverUnreachable_thenBack_writesArriveWithinTheBound() throws Exception {
    try (KVLog<String, String> a = pg.viaProxy();
        KVLog<String, String> b = KVLog.builder(pg.url()).open()) {
      a.set("z", "0");
      pg.proxy().restart(3_000);
      b.set("z", "1");
      b.set("gone", "soon");
      b.delete("gone");
      Thread.sleep(3_000);
      long ms = millisUntilVisible(a, "z", "1");
      System.out.printf("staleness after the server was back (3 s outage): %d ms%n", ms);
      assertThat(ms).isLessThanOrEqualTo(BOUND_MS);
      assertThat(a.get("gone")).isEmpty();
      assertThat(a.set("z", "2")).contains("1"); // and it writes again
    }
  }
}
