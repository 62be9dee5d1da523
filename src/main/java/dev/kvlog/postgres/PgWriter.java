package dev.kvlog.postgres;

import dev.kvlog.internal.Text;
import dev.kvlog.spi.Change;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import javax.sql.DataSource;

/**
 * The SQL of each write of a PostgreSQL store: upsert, delete, setIfAbsent, compare-and-set and
 * batches. Prior values and compare-and-set decisions come from the table under a row lock, never
 * from the cache, and a prior value is decoded before the write commits, so one the codec cannot
 * read rolls the write back. The cache learns a write's row version only after it committed. How a
 * write is run, retried and its failure reported is {@link PgWrites}'s part.
 *
 * <p>Thread-safe (each write runs on its own pooled connection; the cache is thread-safe).
 */
final class PgWriter {
  private final String where;
  private final DataSource pool;
  private final PgCache cache;

  PgWriter(String where, DataSource pool, PgCache cache) {
    this.where = where;
    this.pool = pool;
    this.cache = cache;
  }

  <T> T set(String k, String v, Function<String, T> prior) {
    return write(k, "set", (c, a) -> upsert(c, a, k, v, prior));
  }

  /** In a transaction, so that a prior value that cannot be decoded rolls the delete back. */
  <T> T delete(String k, Function<String, T> prior) {
    return write(
        k,
        "delete",
        (c, a) ->
            PgWrites.inTransaction(
                c,
                a,
                () -> {
                  try (PreparedStatement s =
                      c.prepareStatement("DELETE FROM kv WHERE key = ? RETURNING value, version")) {
                    s.setString(1, k);
                    try (ResultSet rs = s.executeQuery()) {
                      if (rs.next()) {
                        long version = rs.getLong(2);
                        T decoded = PgWrites.decodePrior(prior, rs.getString(1));
                        a.onCommit(() -> cache.deleted(k, version));
                        return decoded;
                      }
                    }
                  }
                  PgRows.readKey(c, k, cache); // absent already: learn its tombstone
                  return null;
                }));
  }

  <T> T setIfAbsent(String k, String v, Function<String, T> present) {
    return write(
        k,
        "setIfAbsent",
        (c, a) -> {
          for (; ; ) {
            a.commitMayBeSent();
            if (insertIfAbsent(c, k, v)) {
              return null;
            }
            String text = PgRows.readKey(c, k, cache);
            if (text != null) {
              return PgWrites.decodePrior(present, text); // nothing was written
            }
            // deleted between the two statements: try again
          }
        });
  }

  boolean compareAndSet(String k, String e, String n) {
    return write(
        k,
        "compareAndSet",
        (c, a) -> {
          a.commitMayBeSent();
          if (e == null && n == null) {
            return PgRows.readKey(c, k, cache) == null;
          }
          if (e == null) {
            return insertIfAbsent(c, k, n) || learn(c, k);
          }
          String sql =
              n == null
                  ? "DELETE FROM kv WHERE key = ? AND value = ? RETURNING version"
                  : "UPDATE kv SET value = ? WHERE key = ? AND value = ? RETURNING version";
          try (PreparedStatement s = c.prepareStatement(sql)) {
            int i = 1;
            if (n != null) {
              s.setString(i++, n);
            }
            s.setString(i++, k);
            s.setString(i, e);
            try (ResultSet rs = s.executeQuery()) {
              if (rs.next()) {
                if (n == null) {
                  cache.deleted(k, rs.getLong(1));
                } else {
                  cache.advance(k, n, rs.getLong(1));
                }
                return true;
              }
            }
          }
          return learn(c, k);
        });
  }

  /** After a failed CAS the cache was stale, or will be: re-read the key. Returns false. */
  private boolean learn(Connection c, String k) throws SQLException {
    PgRows.readKey(c, k, cache);
    return false;
  }

  /**
   * Applies all changes in one transaction, or none; a later change to a key wins.
   *
   * <p><b>Why the keys are applied in the key column's order.</b> Each statement locks its row
   * until the commit. Applied in the caller's order, two instances writing a,b,c and c,b,a at once
   * each hold a row the other waits for: PostgreSQL breaks the deadlock after {@code
   * deadlock_timeout} (a second by default) and the write is retried, correct but 20 times slower
   * (measured: 30 such batches per instance took 43 s instead of 2 s, with 41 deadlocks). Applied
   * in one total order that every instance shares, concurrent batches wait for each other but never
   * deadlock. The order is the key column's ({@code COLLATE "C"}: Unicode code points, {@link
   * Text#CODE_POINT_ORDER}), not {@link String#compareTo} (UTF-16 units, which sorts a
   * supplementary character before U+E000..U+FFFF), so that any other client locking rows in {@code
   * ORDER BY key} agrees with it too. Only the last change to each key is applied, so the order of
   * a key's own changes does not matter.
   */
  void apply(List<Change> batch) {
    Map<String, String> changes = new TreeMap<>(Text.CODE_POINT_ORDER);
    batch.forEach(ch -> changes.put(ch.key(), ch.value()));
    if (changes.isEmpty()) {
      return;
    }
    String first = batch.get(0).key(); // the caller's first, to recognise the batch by
    writeAll(
            changes.keySet(),
            "batch of " + changes.size() + " changes (first key " + Text.excerpt(first) + ")",
            (c, a) -> PgWrites.inTransaction(c, a, () -> applyAll(c, changes)))
        .forEach(Runnable::run); // only after the commit: the cache never shows uncommitted data
  }

  /** The batch's statements; returns what the cache learns once they committed. */
  private List<Runnable> applyAll(Connection c, Map<String, String> changes) throws SQLException {
    List<Runnable> learned = new ArrayList<>();
    try (PreparedStatement del =
            c.prepareStatement("DELETE FROM kv WHERE key = ? RETURNING version");
        PreparedStatement put =
            c.prepareStatement(
                "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT (key)"
                    + " DO UPDATE SET value = excluded.value RETURNING version")) {
      for (Map.Entry<String, String> ch : changes.entrySet()) {
        String k = ch.getKey();
        String v = ch.getValue();
        PreparedStatement s = v == null ? del : put;
        s.setString(1, k);
        if (v != null) {
          s.setString(2, v);
        }
        try (ResultSet rs = s.executeQuery()) {
          long version = rs.next() ? rs.getLong(1) : -1;
          if (v != null) {
            learned.add(() -> cache.advance(k, v, version));
          } else if (version >= 0) {
            learned.add(() -> cache.deleted(k, version));
          } else {
            learned.add(() -> PgWrites.refreshQuietly(pool, k, cache));
          }
        }
      }
    }
    return learned;
  }

  private <T> T write(String key, String what, PgWrites.Op<T> op) {
    return writeAll(List.of(key), what + " of key " + Text.excerpt(key), op);
  }

  /** Runs {@code op}, retrying refusals that say "retry" (40xxx), and classifies failures. */
  private <T> T writeAll(Collection<String> touched, String what, PgWrites.Op<T> op) {
    return PgWrites.run(pool, where, what, touched, cache, op);
  }

  /** Upsert that returns the prior value, decided (and decoded) under the row lock. */
  private <T> T upsert(
      Connection c, PgWrites.Attempt a, String k, String v, Function<String, T> decode)
      throws SQLException {
    return PgWrites.inTransaction(
        c,
        a,
        () -> {
          for (; ; ) {
            String prior;
            try (PreparedStatement s =
                c.prepareStatement("SELECT value FROM kv WHERE key = ? FOR UPDATE")) {
              s.setString(1, k);
              try (ResultSet rs = s.executeQuery()) {
                prior = rs.next() ? rs.getString(1) : null;
              }
            }
            if (prior != null) {
              T decoded = PgWrites.decodePrior(decode, prior); // before anything is written
              try (PreparedStatement s =
                  c.prepareStatement("UPDATE kv SET value = ? WHERE key = ? RETURNING version")) {
                s.setString(1, v);
                s.setString(2, k);
                try (ResultSet rs = s.executeQuery()) {
                  rs.next();
                  a.onCommit(cacheAdvance(k, v, rs.getLong(1)));
                }
              }
              return decoded;
            }
            Long version = insert(c, k, v);
            if (version != null) {
              a.onCommit(cacheAdvance(k, v, version));
              return null;
            }
            // Another instance inserted the key since our SELECT and committed: lock it and update.
          }
        });
  }

  private Runnable cacheAdvance(String k, String v, long version) {
    return () -> cache.advance(k, v, version);
  }

  /** Inserts if absent and caches the result; true if inserted. */
  private boolean insertIfAbsent(Connection c, String k, String v) throws SQLException {
    Long version = insert(c, k, v);
    if (version == null) {
      return false;
    }
    cache.advance(k, v, version);
    return true;
  }

  /** The new row's version, or null if the key exists. */
  private static Long insert(Connection c, String k, String v) throws SQLException {
    try (PreparedStatement s =
        c.prepareStatement(
            "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
                + " RETURNING version")) {
      s.setString(1, k);
      s.setString(2, v);
      try (ResultSet rs = s.executeQuery()) {
        return rs.next() ? rs.getLong(1) : null;
      }
    }
  }
}
