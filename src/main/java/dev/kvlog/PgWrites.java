package dev.kvlog;

import dev.kvlog.internal.Text;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import javax.sql.DataSource;
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
 * keys of an unknown write are marked uncertain in the cache and re-read before they are served.
 *
 * <p>Thread-safe (stateless; each {@link Attempt} belongs to one call).
 */
final class PgWrites {
  private static final Logger log = LoggerFactory.getLogger(PgWrites.class);
  private static final int RETRIES = 20;

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
      try (Connection c = pool.getConnection()) {
        T result = op.apply(c, a);
        a.afterCommit.forEach(Runnable::run);
        return result;
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
        keys.forEach(cache::markUncertain);
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

  /** The server reported this error for the statement or the commit, which did not take effect. */
  static boolean refusedByServer(SQLException e) {
    String state = e.getSQLState();
    return state != null
        && (state.startsWith("22")
            || state.startsWith("23")
            || (state.startsWith("40") && !state.equals("40003")) // 40003: completion unknown
            || state.startsWith("42"));
  }

  /** Re-reads {@code key}, settling an uncertain key; on failure the key stays uncertain. */
  static void refreshQuietly(DataSource pool, String key, PgCache cache) {
    try (Connection c = pool.getConnection()) {
      PgRows.readKey(c, key, cache);
      cache.settled(key);
    } catch (SQLException | RuntimeException e) {
      log.debug("cannot re-read {} now; it is re-read before it is served", Text.excerpt(key), e);
    }
  }
}
