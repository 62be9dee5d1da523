package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three instances on one store, two in this JVM and one in a child JVM, write, compare-and-set and
 * read the same keys concurrently while a {@link FaultProxy} black-holes change feeds, kills their
 * backends and cuts connections around commits; {@link PgHistory} checks the history. Length:
 * {@code -Dkvlog.pg.history.seconds} (15 in CI, longer in the torture profile).
 */
class PostgresHistoryTest {
  static final int SECONDS = Integer.getInteger("kvlog.pg.history.seconds", 15);

  @TempDir Path dir;
  @RegisterExtension final PostgresSchema schema = new PostgresSchema();

  @Test
  void threeInstancesUnderFaults_historyIsLinearizableMonotonicAndFresh() throws Exception {
    long millis = SECONDS * 1000L;
    try (FaultProxy proxy = FaultProxy.forJdbcUrl(schema.url())) {
      String faulty = proxy.route(schema.url()) + "&prepareThreshold=0";
      Path childEvents = dir.resolve("child-events");
      Process child =
          ChildJvm.start(
              HistoryChild.class,
              faulty,
              schema.url(),
              childEvents.toString(),
              Long.toString(millis));
      BufferedReader childOut =
          new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
      try {
        assertThat(childOut.readLine()).isEqualTo("READY");
        runAndCheck(proxy, faulty, child, childOut, childEvents, millis);
      } finally {
        child.destroyForcibly(); // a no-op when it ended by itself
      }
    }
  }

  private void runAndCheck(
      FaultProxy proxy,
      String faulty,
      Process child,
      BufferedReader childOut,
      Path childEvents,
      long millis)
      throws Exception {
    List<PgHistory.Event> events = new ArrayList<>();
    AtomicInteger faults = new AtomicInteger();
    try (KVLog<String, String> a = KVLog.builder(faulty).poolSize(2).open();
        KVLog<String, String> b = KVLog.builder(schema.url()).open()) {
      AtomicBoolean stop = new AtomicBoolean();
      ExecutorService pool = Executors.newFixedThreadPool(3);
      Future<?> injector = pool.submit(() -> injectFaults(proxy, stop, faults));
      Future<List<PgHistory.Event>> onA = pool.submit(() -> PgHistory.run(a, "A", 2, millis));
      Future<List<PgHistory.Event>> onB = pool.submit(() -> PgHistory.run(b, "B", 2, millis));
      events.addAll(onA.get(millis + 120_000, TimeUnit.MILLISECONDS));
      events.addAll(onB.get(120, TimeUnit.SECONDS));
      stop.set(true);
      injector.get(30, TimeUnit.SECONDS);
      pool.shutdown();
      assertThat(childOut.readLine()).isEqualTo("DONE");
      events.addAll(PgHistory.read(childEvents));
      Map<String, String> table = table(schema.url()); // every writer has finished
      PgHistory.Verdict verdict = PgHistory.check(events, table, PostgresFaultsTest.BOUND_MS);
      System.out.printf(
          "history: %d s, %d faults, %d acknowledged writes, %d unknown outcomes, %d reads%n",
          SECONDS, faults.get(), verdict.writes(), verdict.unknown(), verdict.reads());
      TortureSummary.record(
          "PostgreSQL: 3 instances (1 in a child JVM), feed and commit faults; history checked",
          faults.get(),
          verdict.writes(),
          verdict.violations().size());
      assertThat(verdict.violations()).isEmpty();
      assertThat(verdict.writes()).isPositive();
      assertThat(faults.get()).isPositive();

      // After the last fault, every instance shows the table within the bound.
      long convergedA = converge(a, table);
      long convergedB = converge(b, table);
      child.getOutputStream().write("CHECK\n".getBytes(StandardCharsets.US_ASCII));
      child.getOutputStream().flush();
      String line = childOut.readLine();
      assertThat(line).startsWith("CONVERGED ");
      long convergedC = Long.parseLong(line.substring("CONVERGED ".length()));
      System.out.printf(
          "converged after the last fault in %d / %d / %d ms (A / B / child)%n",
          convergedA, convergedB, convergedC);
      assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();
      assertThat(child.exitValue()).as("child exit status").isZero();
    }
  }

  /** Every 1.5 s one fault, in turn. */
  static Void injectFaults(FaultProxy proxy, AtomicBoolean stop, AtomicInteger count)
      throws Exception {
    Random random = new Random(11);
    for (int i = 0; !stop.get(); i++) {
      Thread.sleep(1_500);
      if (stop.get()) {
        break;
      }
      switch (i % 4) {
        case 0 -> {
          List<Integer> ports = proxy.serverSidePorts(FaultProxy.clientSent("LISTEN"));
          if (!ports.isEmpty()) {
            int port = ports.get(random.nextInt(ports.size()));
            proxy.blackHole(l -> l.upstream.getLocalPort() == port);
          }
        }
        case 1 -> proxy.cutAfterClientMessage("COMMIT");
        case 2 -> terminateAListener(proxy, random);
        default -> proxy.cutAfterClientMessage("UPDATE kv SET value");
      }
      count.incrementAndGet();
    }
    return null;
  }

  private static void terminateAListener(FaultProxy proxy, Random random) throws SQLException {
    List<Integer> ports = proxy.serverSidePorts(FaultProxy.clientSent("LISTEN"));
    if (ports.isEmpty()) {
      return;
    }
    try (Connection c = DriverManager.getConnection(PostgresTestServer.url());
        PreparedStatement s =
            c.prepareStatement(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port = ?"
                    + " AND client_addr IN ('127.0.0.1', '::1')")) {
      s.setInt(1, ports.get(random.nextInt(ports.size())));
      s.executeQuery().close();
    }
  }

  static Map<String, String> table(String url) throws SQLException {
    Map<String, String> out = new HashMap<>();
    try (Connection c = DriverManager.getConnection(url);
        PreparedStatement s = c.prepareStatement("SELECT value FROM kv WHERE key = ?")) {
      for (String k : PgHistory.KEYS) {
        s.setString(1, k);
        try (ResultSet rs = s.executeQuery()) {
          out.put(k, rs.next() ? rs.getString(1) : "-");
        }
      }
    }
    return out;
  }

  /** Milliseconds until {@code store} shows {@code table}; fails past the staleness bound. */
  static long converge(KVStore<String, String> store, Map<String, String> table)
      throws InterruptedException {
    long start = System.nanoTime();
    long deadline = start + TimeUnit.MILLISECONDS.toNanos(PostgresFaultsTest.BOUND_MS);
    for (; ; ) {
      boolean same = true;
      for (String k : PgHistory.KEYS) {
        same &= store.get(k).orElse("-").equals(table.get(k));
      }
      long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      if (same) {
        return ms;
      }
      if (System.nanoTime() > deadline) {
        Map<String, Optional<String>> shown = new HashMap<>();
        for (String k : PgHistory.KEYS) {
          shown.put(k, store.get(k));
        }
        throw new AssertionError(store + " still shows " + shown + " instead of " + table);
      }
      Thread.sleep(5);
    }
  }

  /** The child JVM's instance: args = store URL, direct URL, events file, milliseconds. */
  static final class HistoryChild {
    public static void main(String[] args) throws Exception {
      try (KVLog<String, String> store = KVLog.builder(args[0]).poolSize(2).open()) {
        System.out.println("READY");
        System.out.flush();
        List<PgHistory.Event> events = PgHistory.run(store, "C", 2, Long.parseLong(args[3]));
        PgHistory.write(Path.of(args[2]), events);
        System.out.println("DONE");
        System.out.flush();
        // The parent says when its own writers finished and the faults stopped.
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
        System.out.println("CONVERGED " + converge(store, table(args[1])));
        System.out.flush();
      }
    }
  }
}
