package dev.kvlog.postgres;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a {@link PgCache} in line with other instances' writes: LISTENs on the store's channel,
 * where the table's trigger announces the version of every committed change, and re-reads the rows
 * of those versions.
 *
 * <p><b>A dead feed is noticed within {@link #HEARTBEAT_INTERVAL_MS} + {@link
 * #HEARTBEAT_DEADLINE_MS} ms.</b> A TCP connection can die silently (black-holed, no RST or FIN):
 * polling it for notifications then simply returns nothing. So every {@value
 * #HEARTBEAT_INTERVAL_MS} ms the feed NOTIFYs its own channel through its own connection, with a
 * socket timeout of {@value #HEARTBEAT_DEADLINE_MS} ms, and must receive that notification back; a
 * timeout, an error or a missing echo closes the connection. The feed then reconnects (retrying
 * every {@value #RETRY_MS} ms while the server is unreachable), LISTENs again and only then reloads
 * every row and tombstone, so no change can fall between the reload and the new feed. The reload is
 * a full one because versions are drawn before commit: "version &gt; last seen" could miss a
 * transaction that drew a smaller version and committed later. Reloads and re-reads only move keys
 * forward ({@link PgCache}), so they never undo this instance's own writes.
 *
 * <p><b>The feed says how fresh the cache is.</b> {@link #staleMillis} is the age of the newest
 * moment as of which every committed change is known to be in the cache: the sending of the last
 * heartbeat that came back (notifications arrive in commit order, so every change committed before
 * it was applied before its echo), or the start of the last full reload. While the feed cannot be
 * re-established (for example new connections are refused while the pool's connections still work),
 * that age grows, and {@link PostgresKVStore#get} stops trusting the cache past {@link
 * #TRUSTED_MS}.
 *
 * <p>Thread-safe: one daemon thread does all the work; {@link #close} may be called from any
 * thread.
 */
final class PgChangeFeed implements AutoCloseable {
  static final long HEARTBEAT_INTERVAL_MS = 1_000;
  static final long HEARTBEAT_DEADLINE_MS = 2_000;
  static final long RETRY_MS = 500;

  /**
   * Past this age the cache is not trusted for reads. A healthy feed stays below interval +
   * deadline (3 s); 4 s keeps every value served from the cache within the 5 s staleness bound.
   */
  static final long TRUSTED_MS = 4_000;

  private static final int POLL_MS = 100;
  private static final Logger log = LoggerFactory.getLogger(PgChangeFeed.class);

  private final String url;
  private final String where;
  private final String channel;
  private final DataSource pool;
  private final PgCache cache;
  private final String beatPrefix = "hb:" + UUID.randomUUID() + ":";
  private final AtomicLong reconnects = new AtomicLong();
  private final Thread thread;
  private volatile Connection listening;
  private volatile boolean closed;
  private volatile long freshAsOf; // System.nanoTime(); see the class comment
  private long beats;

  /** Connects, LISTENs, then loads everything; the caller starts the feed with {@link #start}. */
  PgChangeFeed(String url, String where, String channel, DataSource pool, PgCache cache)
      throws SQLException {
    this.url = url;
    this.where = where;
    this.channel = channel;
    this.pool = pool;
    this.cache = cache;
    listening = listen(); // before the load: no change can fall between the two
    try {
      long start = System.nanoTime();
      PgRows.readAll(pool, cache);
      freshAsOf = start;
    } catch (SQLException | RuntimeException e) {
      abort(listening, e);
      throw e;
    }
    thread = new Thread(this::run, "kvlog-pg-listener");
    thread.setDaemon(true);
  }

  void start() {
    thread.start();
  }

  /** How old (ms) the newest moment is as of which the cache holds every committed change. */
  long staleMillis() {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - freshAsOf);
  }

  /** How often the feed was lost and re-established since the store opened. */
  long reconnects() {
    return reconnects.get();
  }

  private Connection listen() throws SQLException {
    Properties props = new Properties();
    props.setProperty("ApplicationName", "kvlog-listener");
    props.setProperty("tcpKeepAlive", "true");
    props.setProperty("connectTimeout", Long.toString(HEARTBEAT_DEADLINE_MS / 1000));
    Connection c = DriverManager.getConnection(url, props);
    try {
      c.setNetworkTimeout(Runnable::run, (int) HEARTBEAT_DEADLINE_MS);
      try (Statement s = c.createStatement()) {
        s.execute("LISTEN \"" + channel.replace("\"", "\"\"") + "\"");
      }
      return c;
    } catch (SQLException | RuntimeException e) {
      abort(c, e);
      throw e;
    }
  }

  private void run() {
    long nextBeat = System.nanoTime();
    while (!closed) {
      try {
        if (listening == null) {
          listening = listen();
          long start = System.nanoTime();
          int removed = PgRows.readAll(pool, cache);
          freshAsOf = start;
          reconnects.incrementAndGet();
          log.info(
              "change feed of {} re-established; the cache was reloaded ({} keys gone from the"
                  + " table removed)",
              where,
              removed);
          nextBeat = System.nanoTime();
        }
        apply(listening.unwrap(PGConnection.class).getNotifications(POLL_MS), null);
        if (System.nanoTime() - nextBeat >= 0) {
          heartbeat();
          nextBeat = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(HEARTBEAT_INTERVAL_MS);
        }
      } catch (SQLException | RuntimeException e) {
        if (closed) {
          return;
        }
        log.warn(
            "change feed of {} lost ({}); reconnecting and reloading", where, e.getMessage(), e);
        Connection dead = listening;
        listening = null;
        if (dead != null) {
          abort(dead, e);
        }
        try {
          Thread.sleep(RETRY_MS);
        } catch (InterruptedException interrupted) {
          return;
        }
      }
    }
  }

  /** NOTIFYs this feed's own channel and requires the echo within the deadline. */
  private void heartbeat() throws SQLException {
    String token = beatPrefix + (++beats);
    long sent = System.nanoTime();
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(HEARTBEAT_DEADLINE_MS);
    try (PreparedStatement s = listening.prepareStatement("SELECT pg_notify(?, ?)")) {
      s.setString(1, channel);
      s.setString(2, token);
      s.execute();
    }
    PGConnection pg = listening.unwrap(PGConnection.class);
    for (; ; ) {
      long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
      if (left <= 0) {
        throw new SQLException(
            "heartbeat " + token + " did not come back within " + HEARTBEAT_DEADLINE_MS + " ms");
      }
      if (apply(pg.getNotifications((int) Math.max(1, Math.min(left, POLL_MS))), token)) {
        freshAsOf = sent;
        return;
      }
    }
  }

  /** Re-reads the rows the notifications announce; true if {@code token} was among them. */
  private boolean apply(PGNotification[] notes, String token) throws SQLException {
    if (notes == null || notes.length == 0) {
      return false;
    }
    boolean echoed = false;
    List<Long> versions = new ArrayList<>(notes.length);
    for (PGNotification n : notes) {
      String payload = n.getParameter();
      if (payload.startsWith("hb:")) {
        echoed |= payload.equals(token);
      } else {
        try {
          versions.add(Long.parseLong(payload));
        } catch (NumberFormatException e) {
          log.debug("ignoring notification {} on {}: not a version", payload, channel);
        }
      }
    }
    if (!versions.isEmpty()) {
      PgRows.readVersions(listening, versions.toArray(new Long[0]), cache);
    }
    return echoed;
  }

  private static void abort(Connection c, Exception cause) {
    try {
      c.abort(Runnable::run); // never blocks on a black-holed socket, unlike close()
    } catch (SQLException | RuntimeException e) {
      cause.addSuppressed(e);
    }
  }

  /** Stops the feed and closes its connection. Idempotent. */
  @Override
  public void close() {
    closed = true;
    try {
      thread.join(HEARTBEAT_INTERVAL_MS + HEARTBEAT_DEADLINE_MS + RETRY_MS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    Connection c = listening;
    if (c != null) {
      try {
        c.close();
      } catch (SQLException ignored) {
        // closing anyway
      }
    }
  }
}
