package dev.kvlog.internal;

import dev.kvlog.KVLogException;
import dev.kvlog.StoreClosedException;
import dev.kvlog.WriteFailedException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The single writer. Each {@link #set} or {@link #delete} is one auto-committed SQLite transaction
 * on a connection this class holds for the life of the store; in WAL mode with {@code
 * synchronous=FULL} the statement returns only after the WAL has been fsynced.
 *
 * <p>Writers queue on a fair lock, in arrival order, instead of contending in SQLite's busy handler
 * (which sleeps and retries). Under that lock, a write reads the prior value from the {@link
 * WarmCache} (which equals the table while the lock is held), commits, and only then updates the
 * cache. Hence: the cache never shows an undurable value; the prior value returned and the order of
 * writes to a key agree with the order of commits; and after any interleaving the cache equals what
 * a reopen reads.
 *
 * <p>A failure SQLite guarantees to be clean (disk full, busy, read-only) changes nothing and the
 * store goes on. Any other failure leaves the outcome unknown, so the log refuses further writes
 * until reopened rather than let the cache and the table drift apart.
 */
public final class CommitLog implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(CommitLog.class);

  private final Path path;
  private final Connection connection;
  private final WarmCache cache;
  private final ReentrantLock lock = new ReentrantLock(true);
  // sqlite-jdbc finalizes a statement whose execution failed, so both are re-prepared after any
  // failure (see failed()).
  private PreparedStatement upsert; // guarded by lock
  private PreparedStatement delete; // guarded by lock
  private boolean closed; // guarded by lock
  private SQLException failure; // guarded by lock: the unclean failure that stopped writes

  public CommitLog(Path path, Connection connection, WarmCache cache) throws SQLException {
    this.path = path;
    this.connection = connection;
    this.cache = cache;
    prepare();
  }

  private void prepare() throws SQLException {
    upsert =
        connection.prepareStatement(
            "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    delete = connection.prepareStatement("DELETE FROM kv WHERE key = ?");
  }

  /** Durably maps {@code key} to {@code value}; returns the prior value or null. */
  public String set(String key, String value) {
    lock();
    try {
      checkWritable();
      String prior = cache.get(key);
      upsert.setString(1, key);
      upsert.setString(2, value);
      upsert.executeUpdate();
      cache.put(key, value);
      return prior;
    } catch (SQLException e) {
      throw failed("set", key, e);
    } finally {
      lock.unlock();
    }
  }

  /** Durably removes {@code key}; returns the removed value or null (then nothing is written). */
  public String delete(String key) {
    lock();
    try {
      checkWritable();
      String prior = cache.get(key);
      if (prior != null) {
        delete.setString(1, key);
        delete.executeUpdate();
        cache.remove(key);
      }
      return prior;
    } catch (SQLException e) {
      throw failed("delete", key, e);
    } finally {
      lock.unlock();
    }
  }

  private void lock() {
    try {
      lock.lockInterruptibly();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new KVLogException(
          "interrupted while waiting to write to " + path + "; the write was not applied", e);
    }
  }

  private void checkWritable() {
    if (closed) {
      throw new StoreClosedException(path + " is closed");
    }
    if (failure != null) {
      throw new WriteFailedException(
          path
              + " refuses writes since an earlier write failed with an"
              + " unknown outcome ("
              + failure.getMessage()
              + "); close and reopen the store",
          failure,
          true);
    }
  }

  private WriteFailedException failed(String op, String key, SQLException e) {
    int code = Errors.primaryCode(e);
    boolean clean = Errors.leftStoreUnchanged(code);
    try {
      upsert.close();
      delete.close();
      prepare();
    } catch (SQLException again) {
      e.addSuppressed(again);
      clean = false;
    }
    if (!clean) {
      failure = e;
      log.error("write to {} failed with an unknown outcome; refusing further writes", path, e);
    }
    return new WriteFailedException(
        op
            + " of key "
            + Text.excerpt(key)
            + " in "
            + path
            + " failed: "
            + e.getMessage()
            + "; "
            + Errors.writeHint(clean ? code : -1),
        e,
        !clean);
  }

  /**
   * Waits for the write in progress, then checkpoints the WAL into the database and truncates it,
   * so a closed store is one self-contained file. The connection goes back to the pool.
   */
  @Override
  public void close() {
    lock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      try (Statement s = connection.createStatement()) {
        s.execute("PRAGMA wal_checkpoint(TRUNCATE)");
      } catch (SQLException e) {
        // Not a loss: the WAL stays and SQLite replays it at the next open.
        log.warn(
            "checkpoint of {} at close failed; the WAL will be replayed at the next open", path, e);
      }
      Resources.closeAll(
          "cannot close the writer connection of " + path, upsert, delete, connection);
    } finally {
      lock.unlock();
    }
  }
}
