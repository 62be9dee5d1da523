package dev.kvlog.sqlite;

import dev.kvlog.CorruptValueException;
import dev.kvlog.KVLogException;
import dev.kvlog.StoreClosedException;
import dev.kvlog.WriteFailedException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.function.Consumer;
import java.util.function.ObjLongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The single writer: every change to the store goes through here, queued by its {@link
 * GroupCommitter} and committed by its leader on the one writer connection. Thread-safe.
 *
 * <p><b>Invariant: decide inside the lock.</b> Every decision (a prior value, compare-and-set,
 * {@code setIfAbsent}, whether a batch's delete removes something, whether a prior value still
 * decodes) is made against the table as it is while this connection holds SQLite's write lock: the
 * leader runs {@code BEGIN IMMEDIATE} (waiting in SQLite's busy handler while another connection
 * writes), then compares {@code data_version} and reloads what another connection changed (see
 * {@link ExternalChanges}), inside that same transaction, then decides, writes and commits. No
 * auto-committed fast path: a decision made before the lock could rest on a row another connection
 * is committing right then. The lone writer pays two more statement steps (BEGIN, COMMIT), no extra
 * fsync.
 *
 * <p><b>Invariant: scans are never ahead of {@code get}.</b> Scans read SQLite, which shows a
 * commit before the cache does. So the leader holds {@link #publication}'s write side from just
 * before COMMIT until the group is published to the cache, and {@link #readConsistent} holds its
 * read side while it establishes its SQLite read snapshot. A commit inside the snapshot therefore
 * finished publishing before the scan began; one that is not in it commits after. Another
 * connection's commit can be in the snapshot but not yet in the cache: the scan then syncs
 * (compares {@code data_version} and reloads) before it returns, so a later {@code get} is at least
 * as new as the scan.
 *
 * <p><b>Visibility.</b> The cache changes only after the COMMIT returned, in one atomic publication
 * (see {@link WarmCache}), before the lock is released and before any caller is told. Hence no one
 * ever sees a value that is not durable, or part of a group; prior values and compare-and-set
 * decisions agree with the order of commits; and the cache equals what a reopen reads.
 *
 * <p><b>Invariant: a write returns, or throws with the table unchanged, or throws {@link
 * WriteFailedException#outcomeUnknown()}.</b> A request whose statement fails is rolled back alone:
 * the transaction is rolled back, the failing request gets its error, and the rest of the group is
 * retried without it. A request refused before it wrote (a prior value its codec cannot decode)
 * fails alone without a rollback. A failed COMMIT fails the whole group; a failure SQLite
 * guarantees to be clean (disk full, busy, read-only) changes nothing and the store goes on; any
 * other failure of a COMMIT leaves the outcome unknown, so the writer refuses further writes until
 * reopened. Nothing after a successful COMMIT can fail a request: if publishing to the cache fails,
 * the requests still complete and the cache is reloaded (or marked stale, reloaded before the next
 * decision). What each caller is told, and when writes stop, is {@link WriteFailures}'.
 *
 * <p><b>Size.</b> This class is longer than most here because it holds one algorithm: the write
 * transaction (BEGIN IMMEDIATE, reload inside it, decide, COMMIT under the publication lock,
 * publish or repair) with its rollback and retry paths, and the scan that the publication lock
 * orders against it; the invariants above are about how those parts interleave, so they are kept
 * together. The queue ({@link GroupCommitter}), the requests ({@link WriteRequest}), other
 * connections' changes ({@link ExternalChanges}) and the failure messages ({@link WriteFailures})
 * live apart.
 */
final class SqliteWriter implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SqliteWriter.class);

  private final Path path;
  private final Connection connection;
  private final TableCache cache;
  private final ExternalChanges external;
  private final ObjLongConsumer<Connection> afterCommit;
  private final CommitStats stats;
  private final GroupCommitter<WriteRequest<?>> committer;
  private final WriteFailures failures; // what failed, and whether writes stopped
  // Write side: from before COMMIT until the cache is published. Read side: while a scan takes
  // its snapshot. See "scans are never ahead of get" above.
  private final ReadWriteLock publication;
  // sqlite-jdbc finalizes a statement whose execution failed, so all of them are re-prepared after
  // any failure (see reprepare()).
  private PreparedStatement upsert; // all fields below: guarded by the committer's lock
  private PreparedStatement delete;
  private PreparedStatement begin;
  private PreparedStatement commit;
  private PreparedStatement rollback;
  private PreparedStatement lookup; // a key's value, for a bounded cache's decisions
  private boolean closed;
  private long committedBytes; // what the last commit added to the WAL, estimated (see walBytes)

  /** Looks up a key's current value on the writer connection (a bounded cache's misses). */
  static final String LOOKUP = "SELECT CAST(value AS BLOB) FROM kv WHERE key = ?";

  /**
   * Makes the cache with {@code cacheFactory} on {@code connection}, which the writer then owns,
   * and returns the writer.
   *
   * @param cacheFactory makes the cache (loads the table, or an empty bounded cache)
   * @param publication the lock whose write side this writer holds from before each COMMIT until
   *     the commit is published (see "scans are never ahead of get"); a bounded cache's misses take
   *     its read side
   * @param afterCommit runs after each successful commit, holding the writer lock, with the writer
   *     connection (the housekeeper's checkpoint step); its failures are only logged
   */
  SqliteWriter(
      Path path,
      Connection connection,
      ExternalChanges.CacheFactory cacheFactory,
      ReadWriteLock publication,
      boolean groupCommit,
      ObjLongConsumer<Connection> afterCommit,
      CommitStats stats)
      throws SQLException {
    this.path = path;
    this.connection = connection;
    this.publication = publication;
    this.afterCommit = afterCommit;
    this.stats = stats;
    this.failures = new WriteFailures(path);
    this.external = ExternalChanges.open(path, connection, cacheFactory, stats);
    this.cache = external.cache();
    this.committer =
        new GroupCommitter<>(
            path.toString(), groupCommit, this::commitGroup, this::failUnexpectedly);
    prepare();
  }

  /** The cache this writer keeps equal to the table. */
  TableCache cache() {
    return cache;
  }

  private void prepare() throws SQLException {
    upsert =
        connection.prepareStatement(
            "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    delete = connection.prepareStatement("DELETE FROM kv WHERE key = ?");
    begin = connection.prepareStatement("BEGIN IMMEDIATE");
    commit = connection.prepareStatement("COMMIT");
    rollback = connection.prepareStatement("ROLLBACK");
    lookup = connection.prepareStatement(LOOKUP);
  }

  /**
   * Queues {@code request}, commits it (leading a group or waiting for a leader) and returns its
   * result (see {@link WriteRequest}'s factories for what each returns).
   *
   * @throws WriteFailedException if it failed: the table unchanged, or its outcome unknown
   */
  <T> T submit(WriteRequest<T> request) {
    committer.submit(request);
    return request.result();
  }

  /**
   * Reloads the cache if another connection committed since the last check. Waits for writes in
   * progress. Returns true if the cache changed.
   */
  boolean syncExternalChanges() {
    committer.lock();
    try {
      checkWritable();
      return external.reloadIfChanged(false);
    } catch (CorruptValueException e) {
      throw e;
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(path, e), e);
    } finally {
      committer.unlock();
    }
  }

  /**
   * {@link #syncExternalChanges} for a read that found two reads of the table disagreeing (see
   * {@link BoundedCache}): waits for a write in progress, ignores interrupts, and does nothing once
   * writes stopped (the writer connection's state is then unknown; reads stay as they are).
   */
  void syncForRead() {
    committer.lockUninterruptibly();
    takeInOutsideCommits();
  }

  /** A read of SQLite on a connection that is not the writer's. */
  @FunctionalInterface
  interface SqlRead<T> {
    T read(Connection c) throws SQLException;
  }

  /**
   * Runs {@code read} on {@code c} (auto-commit, no transaction) in one read transaction whose
   * snapshot no later {@code get} contradicts: every commit of this writer in it is already
   * published to the cache, and another connection's commit in it is reloaded into the cache before
   * this returns (see "scans are never ahead of get" above).
   *
   * @throws SQLException if SQLite fails
   * @throws CorruptValueException if the reload finds text that is not valid UTF-8
   * @throws StoreClosedException if the writer is closed
   */
  <T> T readConsistent(Connection c, SqlRead<T> read) throws SQLException {
    T result = readSnapshot(c, read);
    syncAfterRead();
    return result;
  }

  /**
   * {@link #readConsistent} with a connection taken from {@code pool} and given back before the
   * sync step, which may wait for a commit in progress: a scan then holds a pooled connection only
   * while it reads (200 virtual threads scanning at once waited past the pool's timeout when each
   * held its connection through the wait).
   */
  <T> T readConsistent(Database pool, SqlRead<T> read) throws SQLException {
    T result;
    try (Connection c = pool.connection()) {
      result = readSnapshot(c, read);
    }
    syncAfterRead();
    return result;
  }

  /**
   * The read transaction of {@link #readConsistent} alone, on a connection from {@code pool}: a
   * snapshot never ahead of this writer's publications, without the sync step, so it never waits
   * for a write in progress (which may be waiting for SQLite's lock). For a bounded cache's size
   * and copies: another connection's commit the snapshot shows is taken in by the next check, as
   * for a miss (see {@link BoundedCache}).
   */
  <T> T readPublished(Database pool, SqlRead<T> read) throws SQLException {
    checkOpen();
    try (Connection c = pool.connection()) {
      return readSnapshot(c, read);
    }
  }

  /** The read transaction of {@link #readConsistent}: its snapshot is never ahead of the cache. */
  private <T> T readSnapshot(Connection c, SqlRead<T> read) throws SQLException {
    T result;
    try (Statement s = c.createStatement()) {
      s.execute("BEGIN");
      try {
        publication.readLock().lock();
        try (ResultSet rs = s.executeQuery("SELECT count(*) FROM (SELECT 1 FROM kv LIMIT 1)")) {
          rs.next(); // the first step of a read starts the snapshot
        } finally {
          publication.readLock().unlock();
        }
        result = read.read(c);
      } finally {
        s.execute("COMMIT");
      }
    }
    return result;
  }

  /**
   * The sync step of {@link #readConsistent}: takes in another connection's commit that the
   * snapshot may have shown, so a later get is at least as new.
   */
  private void syncAfterRead() {
    committer.lock();
    takeInOutsideCommits();
  }

  /**
   * The sync of a read, holding the writer lock, which it releases: takes in other connections'
   * commits, unless writes stopped (the writer connection's state is then unknown; reads stay as
   * they are).
   */
  private void takeInOutsideCommits() {
    try {
      checkOpen();
      if (!failures.stopped()) {
        external.reloadIfChanged(false);
      }
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(path, e), e);
    } finally {
      committer.unlock();
    }
  }

  /**
   * A copy of the cache from between two publications, made without blocking writers if they let
   * it, else under the lock.
   */
  Map<String, String> cacheCopy() {
    Map<String, String> copy = cache.copy(3);
    if (copy != null) {
      return copy;
    }
    committer.lock();
    try {
      checkOpen();
      return cache.copy(1);
    } finally {
      committer.unlock();
    }
  }

  /**
   * Checks for external changes if no write is in progress; a write in progress checks by itself.
   * The housekeeper runs this every poll interval.
   */
  void pollExternalChanges() {
    if (!committer.tryLock()) {
      return;
    }
    try {
      if (!closed && !failures.stopped()) {
        external.poll();
      }
    } finally {
      committer.unlock();
    }
  }

  // ---- committing a group (the leader, holding the lock) ----

  /** Commits {@code group}, leaving every request done. */
  private void commitGroup(List<WriteRequest<?>> group) {
    try {
      checkWritable();
      checkFileInPlace();
    } catch (RuntimeException e) {
      group.forEach(r -> r.fail(e));
      return;
    }
    long start = System.nanoTime();
    int committed = commitTogether(group);
    // A group that changed nothing (failed conditional writes, deletes of absent keys) commits an
    // empty transaction: no WAL frame, no fsync. Counting it would dilute the commit latency.
    if (committed > 0 && committedBytes > 0) {
      try {
        stats.recordCommit(committed, System.nanoTime() - start);
        afterCommit.accept(connection, committedBytes);
      } catch (RuntimeException e) { // the group is committed and told so: only log
        log.error("bookkeeping after a commit to {} failed", path, e);
      }
    }
  }

  /**
   * A bug, not a SQLite failure (those are handled in commit): never strand a waiter, and since
   * where it struck is unknown, neither is whether the write was applied.
   */
  private void failUnexpectedly(List<WriteRequest<?>> group, Throwable e) {
    rollbackQuietly(
        failures.stop(new SQLException("unexpected failure on the write path: " + e, e)));
    for (WriteRequest<?> r : group) {
      if (!r.isDone()) {
        r.fail(failures.unexpected(e));
      }
    }
    log.error("unexpected failure on the write path of {}", path, e);
  }

  /**
   * All requests in one transaction, decided inside it (see "decide inside the lock"). A request
   * whose statement fails is dropped and the rest retried in a fresh transaction, so one bad
   * request never fails its neighbours. Writers that queued while the statements ran join before
   * COMMIT ({@link GroupCommitter#joinLate()}), decided in the same transaction like the rest.
   * Returns how many committed.
   */
  private int commitTogether(List<WriteRequest<?>> group) {
    List<WriteRequest<?>> live = new ArrayList<>(group);
    retry:
    while (!live.isEmpty()) {
      try {
        begin.execute(); // takes SQLite's write lock, or waits for it in the busy handler
      } catch (SQLException e) {
        failEach(live, e, false);
        return 0;
      }
      try {
        external.reloadIfChanged(true);
      } catch (SQLException | RuntimeException e) {
        // Nothing was written in this transaction: rolling it back leaves the table unchanged.
        SQLException cause = e instanceof SQLException ? (SQLException) e : new SQLException(e);
        boolean rolledBack = rollbackQuietly(cause);
        for (WriteRequest<?> r : live) {
          r.fail(rolledBack ? failures.notAppliedAfterReload(r, e) : failed(r, cause, true));
        }
        return 0;
      }
      WriteRequest.Changes changes =
          new WriteRequest.Changes(path, key -> cache.current(key, lookup), upsert, delete);
      for (int i = 0; ; i++) {
        if (i == live.size()) {
          Consumer<Path> hook = afterStatementsHookForTests;
          if (hook != null) {
            hook.accept(path);
          }
          // Writers that queued while these statements ran join this commit and its fsync.
          List<WriteRequest<?>> late = committer.joinLate();
          if (late.isEmpty()) {
            break;
          }
          live.addAll(late);
        }
        WriteRequest<?> r = live.get(i);
        try {
          r.applyIn(changes);
        } catch (WriteRequest.Refused e) { // decided before it wrote anything: fails alone
          r.fail(e.failure);
          live.remove(i--);
        } catch (SQLException e) {
          boolean rolledBack = rollbackQuietly(e);
          r.fail(failed(r, e, !rolledBack));
          live.remove(i);
          if (!rolledBack) {
            failEach(live, e, true);
            return 0;
          }
          continue retry;
        }
      }
      cache.committing(changes.changed());
      publication.writeLock().lock();
      try {
        try {
          commit.execute();
        } catch (SQLException e) {
          rollbackQuietly(e);
          failEach(live, e, false);
          return 0;
        }
        // Committed: from here on nothing may report these requests as failed.
        try {
          Consumer<Path> hook = afterCommitHookForTests;
          if (hook != null) {
            hook.accept(path);
          }
          committedBytes = walBytes(changes.changed());
          cache.publish(changes.changed());
        } catch (RuntimeException | Error e) {
          repairCacheAfterCommit(e);
        } finally {
          live.forEach(WriteRequest::completeAsDecided);
        }
      } finally {
        publication.writeLock().unlock();
      }
      return live.size();
    }
    return 0;
  }

  /**
   * Test hook: runs after the statements of a group ran, before late writers are taken into it;
   * gets the path.
   */
  static volatile Consumer<Path> afterStatementsHookForTests;

  /**
   * An estimate of the bytes a commit of {@code changed} appended to the WAL, for the housekeeper's
   * decision when to look at the WAL's size: at least one 4 KiB frame (page plus frame header) per
   * changed key, plus its text (overflow pages of large values). Never a stat(): see {@link
   * Housekeeper#COMMITS_BETWEEN_LOOKS}.
   */
  private static long walBytes(Map<String, String> changed) {
    long bytes = 0;
    for (Map.Entry<String, String> e : changed.entrySet()) {
      String v = e.getValue();
      bytes += 4096 + 24 + 2L * (e.getKey().length() + (v == null ? 0 : v.length()));
    }
    return bytes;
  }

  /** Test hook: runs after a successful COMMIT, before the cache is published; gets the path. */
  static volatile Consumer<Path> afterCommitHookForTests;

  /**
   * The group is durable but publishing it failed: reload the whole table now, or if that fails
   * too, reload before the next decision.
   */
  private void repairCacheAfterCommit(Throwable e) {
    log.error(
        "a commit to {} succeeded but updating the cache failed; reloading it from the table",
        path,
        e);
    external.markStale();
    try {
      external.reloadIfChanged(false);
    } catch (SQLException | RuntimeException again) {
      log.error("reloading {} failed; it is retried before the next write", path, again);
    }
  }

  private boolean rollbackQuietly(SQLException cause) {
    try {
      rollback.execute();
      return true;
    } catch (SQLException e) {
      // SQLite rolls back by itself after some errors (SQLITE_FULL, SQLITE_IOERR): then there is no
      // transaction left to roll back, which is what we want.
      if (e.getMessage() != null && e.getMessage().contains("no transaction is active")) {
        return true;
      }
      cause.addSuppressed(e);
      return false;
    }
  }

  /** Refuses to write once the database file was deleted or replaced (see ExternalChanges). */
  private void checkFileInPlace() {
    SQLException e = external.fileProblem();
    if (e != null) {
      throw failures.fileGone(e);
    }
  }

  // ---- failures ----

  private void checkOpen() {
    if (closed) {
      throw new StoreClosedException(path + " is closed");
    }
  }

  private void checkWritable() {
    checkOpen();
    failures.checkWritable();
  }

  /**
   * Re-prepares the statements, classifies the failure, and if its outcome is unknown (or {@code
   * unknown} says so) stops further writes.
   */
  private WriteFailedException failed(WriteRequest<?> r, SQLException e, boolean unknown) {
    return failures.describe(r, e, failures.classify(e, unknown, reprepare(e)));
  }

  /**
   * {@link #failed} for each of {@code requests}, which {@code e} failed together: each is told
   * about its own request.
   */
  private void failEach(List<WriteRequest<?>> requests, SQLException e, boolean unknown) {
    boolean clean = failures.classify(e, unknown, reprepare(e));
    for (WriteRequest<?> r : requests) {
      r.fail(failures.describe(r, e, clean));
    }
  }

  /** Every statement prepared on the writer connection, to close together. */
  private AutoCloseable[] statements() {
    return new AutoCloseable[] {
      upsert, delete, begin, commit, rollback, lookup, external.statement()
    };
  }

  /** Re-prepares the statements after {@code e}; false (then suppressed in e) if that failed. */
  private boolean reprepare(SQLException e) {
    try {
      Resources.closeAll("cannot close statements", statements());
      prepare();
      external.prepare();
      return true;
    } catch (SQLException | RuntimeException again) {
      e.addSuppressed(again);
      return false;
    }
  }

  /**
   * How long close waits for other connections' readers before it leaves the WAL in place (it is
   * part of the store: the next open replays it), instead of the configured busyTimeout.
   */
  static final int CLOSE_CHECKPOINT_WAIT_MILLIS = 200;

  /**
   * Waits for the write in progress, then checkpoints the WAL into the database and truncates it,
   * so a closed store is one self-contained file, unless another connection still reads it after
   * {@link #CLOSE_CHECKPOINT_WAIT_MILLIS}: the WAL then stays, and the next open replays it. Queued
   * writes fail with {@link StoreClosedException}. The connection goes back to the pool.
   */
  @Override
  public void close() {
    committer.lockUninterruptibly();
    try {
      if (closed) {
        return;
      }
      closed = true;
      try (Statement s = connection.createStatement()) {
        // A reader elsewhere (a sqlite3 shell in BEGIN) would hold TRUNCATE in the busy handler
        // for the whole busyTimeout; close waits a moment for short readers, then leaves the WAL.
        s.execute("PRAGMA busy_timeout = " + CLOSE_CHECKPOINT_WAIT_MILLIS);
        try (ResultSet r = s.executeQuery("PRAGMA wal_checkpoint(TRUNCATE)")) {
          if (r.next() && r.getInt(1) != 0) {
            log.info(
                "another connection is reading {}; its WAL stays and is replayed at the next open",
                path);
          }
        }
      } catch (SQLException e) {
        // Not a loss: the WAL stays and SQLite replays it at the next open.
        log.warn(
            "checkpoint of {} at close failed; the WAL will be replayed at the next open", path, e);
      }
      AutoCloseable[] statements = statements();
      AutoCloseable[] all = java.util.Arrays.copyOf(statements, statements.length + 1);
      all[statements.length] = connection; // closed even if a statement fails to close
      Resources.closeAll("cannot close the writer connection of " + path, all);
    } finally {
      // Writers that queued meanwhile find the writer closed when they lead.
      committer.unlock();
    }
  }
}
