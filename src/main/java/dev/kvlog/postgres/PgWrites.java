package dev.kvlog.postgres;

import dev.kvlog.CorruptValueException;
import dev.kvlog.WriteFailedException;
import dev.kvlog.internal.Text;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import javax.sql.DataSource;
import org.postgresql.PGConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a PostgreSQL write runs and how its failure is reported.
 *
 * <p><b>Invariant: a failure says "not applied" only when the database certainly did not commit
 * it.</b> That is the case when no connection was obtained, when nothing that commits was sent yet
 * (a statement inside an explicit transaction whose COMMIT was not sent: the server rolls it back
 * when the connection dies), or when the server itself refused the statement or the commit with
 * SQLState class 22 (data), 23 (constraint), 40 (rollback: serialization, deadlock) or 42 (syntax,
 * access). Every other failure after a commit may have been sent (an autocommitted statement, or
 * COMMIT) is reported as {@linkplain WriteFailedException#outcomeUnknown() outcome unknown}, with
 * the original exception as the cause; a failing rollback is suppressed, never substituted. The
 * keys of an unknown write are marked uncertain in the cache, with the backend pid the write ran
 * on, and settled by {@link #endBackends} and a re-read before they are served.
 *
 * <p>Thread-safe (stateless; each {@link Attempt} belongs to one call).
 */
final class PgWrites {
  private static final Logger log = LoggerFactory.getLogger(PgWrites.class);
  private static final int RETRIES = 20;
  static final long ORPHAN_WAIT_MS = 5_000;

  private PgWrites() {}

  /** One write's SQL on a connection from the pool. */
  @FunctionalInterface
  interface Op<T> {
    T apply(Connection c, Attempt attempt) throws SQLException;
  }

  /** A body of statements inside a transaction. */
  @FunctionalInterface
  interface Body<T> {
    T run() throws SQLException;
  }

  /** What one attempt has sent, and what to cache once it committed. Not thread-safe. */
  static final class Attempt {
    private boolean commitMayBeSent;
    private final List<Runnable> afterCommit = new ArrayList<>();

    /** Call before sending anything that commits: an autocommitted statement, or COMMIT. */
    void commitMayBeSent() {
      commitMayBeSent = true;
    }

    /** Runs {@code r} once the transaction committed (never if it did not). */
    void onCommit(Runnable r) {
      afterCommit.add(r);
    }
  }

  /** Runs {@code body} in a transaction; the caller's failure stays the one thrown. */
  static <T> T inTransaction(Connection c, Attempt a, Body<T> body) throws SQLException {
    c.setAutoCommit(false);
    try {
      T result = body.run();
      a.commitMayBeSent();
      c.commit();
      return result;
    } catch (SQLException | RuntimeException e) {
      try {
        c.rollback();
      } catch (SQLException | RuntimeException rollback) {
        e.addSuppressed(rollback);
      }
      a.afterCommit.clear();
      throw e;
    } finally {
      try {
        c.setAutoCommit(true);
      } catch (SQLException ignored) {
        // a broken connection; the pool discards it
      }
    }
  }

  static <T> T run(
      DataSource pool,
      String where,
      String what,
      Collection<String> keys,
      PgCache cache,
      Op<T> op) {
    for (int attempt = 1; ; attempt++) {
      Attempt a = new Attempt();
      int pid = 0;
      try (Connection c = pool.getConnection()) {
        pid = c.unwrap(PGConnection.class).getBackendPID(); // known since connect, no round trip
        T result = op.apply(c, a);
        a.afterCommit.forEach(Runnable::run);
        return result;
      } catch (PriorRefused e) { // rolled back, or nothing was written
        throw new WriteFailedException(
            what
                + " on "
                + where
                + " was not applied (the table is unchanged): it returns the prior value, which"
                + " cannot be decoded: "
                + e.getCause().getMessage(),
            e.getCause(),
            false,
            false);
      } catch (SQLException e) {
        boolean refused = refusedByServer(e);
        if (refused && e.getSQLState().startsWith("40") && attempt < RETRIES) {
          continue; // serialization failure or deadlock: rolled back, and made to be retried
        }
        if (!a.commitMayBeSent || refused) {
          throw new WriteFailedException(
              what
                  + " on "
                  + where
                  + " failed and was not applied: "
                  + e.getMessage()
                  + "; the store is unchanged, so retrying is safe once the cause is fixed or"
                  + " the server is reachable",
              e,
              false,
              false);
        }
        // Not re-read here: the server may be unreachable, and the caller should hear at once.
        // Only a lost connection can leave the statement running on the server; an error the
        // server sent means its statement is over, and that backend may serve other writes now.
        String state = e.getSQLState();
        int orphan = state == null || state.startsWith("08") ? pid : 0;
        keys.forEach(k -> cache.markUncertain(k, orphan));
        throw new WriteFailedException(
            what
                + " on "
                + where
                + ": outcome unknown, the write may or may not have been applied (the failure"
                + " came after its commit may have reached the server: "
                + e.getMessage()
                + "); re-read the key before deciding to retry, since a retried compareAndSet or"
                + " setIfAbsent would report the first attempt's success as a failure",
            e,
            false,
            true);
      }
    }
  }

  /**
   * Decodes a write's prior value before the write commits (inside its transaction, or when nothing
   * was written): one the codec cannot read refuses the write, which {@link #run} reports as not
   * applied.
   */
  static <T> T decodePrior(Function<String, T> decode, String text) {
    try {
      return decode.apply(text);
    } catch (CorruptValueException e) {
      throw new PriorRefused(e);
    }
  }

  /** A write refused before it committed: its prior value cannot be decoded. */
  private static final class PriorRefused extends RuntimeException {
    private static final long serialVersionUID = 1L;

    PriorRefused(CorruptValueException cause) {
      super(null, cause, false, false);
    }
  }

  /** The server reported this error for the statement or the commit, which did not take effect. */
  static boolean refusedByServer(SQLException e) {
    String state = e.getSQLState();
    return state != null
        && (state.startsWith("22")
            || state.startsWith("23")
            || (state.startsWith("40") && !state.equals("40003")) // 40003: completion unknown
            || state.startsWith("42"));
  }

  /** Re-reads {@code key} (never settles an uncertain key: that needs {@link #endBackends}). */
  static void refreshQuietly(DataSource pool, String key, PgCache cache) {
    try (Connection c = pool.getConnection()) {
      PgRows.readKey(c, key, cache);
    } catch (SQLException | RuntimeException e) {
      log.debug("cannot re-read {} now; the feed or a reload brings it", Text.excerpt(key), e);
    }
  }

  /**
   * Makes sure the server processes {@code pids} are gone, so no statement of theirs can still
   * commit: a statement waiting on a row lock keeps running after its connection was lost (or timed
   * out on the client) and would commit once the lock is free, after a re-read had shown the old
   * value. Terminates them (allowed for backends of the same role) and waits, at most {@value
   * #ORPHAN_WAIT_MS} ms, until they have left pg_stat_activity. A pid that is our own connection's
   * was reused, so its old process is gone; so was one now held by a session that is not of this
   * pool (other user, database or application name; the pool names itself "kvlog" unless the URL
   * names it otherwise), which is left alone. A reused pid of another connection of this same pool
   * can still be hit: that write then fails with an unknown outcome, reported as such.
   *
   * @throws SQLException if they cannot be terminated (permission) or are still there after the
   *     wait
   */
  static void endBackends(Connection c, Set<Integer> pids) throws SQLException {
    if (pids.isEmpty()) {
      return;
    }
    Array array = c.createArrayOf("integer", pids.toArray(new Integer[0]));
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ORPHAN_WAIT_MS);
    try (PreparedStatement s =
        c.prepareStatement(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                + " WHERE pid = ANY(?) AND pid <> pg_backend_pid()"
                // Only a session of this store's own pool can be the write's: a pid reused by
                // any other session (another role, database or program) is never terminated.
                + " AND usename = current_user AND datname = current_database()"
                + " AND application_name = current_setting('application_name')")) {
      s.setArray(1, array);
      for (; ; ) {
        List<Integer> alive = new ArrayList<>();
        try (ResultSet rs = s.executeQuery()) {
          while (rs.next()) {
            alive.add(rs.getInt(1));
          }
        }
        if (alive.isEmpty()) {
          return;
        }
        if (System.nanoTime() - deadline > 0) {
          throw new SQLException(
              "server process(es) "
                  + alive
                  + " that ran the write are still running after "
                  + ORPHAN_WAIT_MS
                  + " ms despite pg_terminate_backend, so the write may still commit");
        }
        try {
          Thread.sleep(10);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new SQLException("interrupted while waiting for server processes " + alive, e);
        }
      }
    }
  }
}
