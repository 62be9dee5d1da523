package dev.kvlog.sqlite;

import dev.kvlog.CorruptValueException;
import dev.kvlog.KVLogException;
import dev.kvlog.SchemaException;
import dev.kvlog.StoreClosedException;
import dev.kvlog.StoreOpenException;
import dev.kvlog.WriteFailedException;
import dev.kvlog.internal.Text;
import dev.kvlog.spi.Change;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The single writer: every change to the store goes through here. Thread-safe.
 *
 * <p><b>Queue and leader.</b> A write is a {@link Request} appended to a queue. The thread that
 * gets the writer lock (the leader) takes queued requests and commits them; the others park until
 * their request is done. With group commit the leader takes everything queued (up to {@link
 * #MAX_GROUP}) and commits it as one SQLite transaction, so concurrent writers share one fsync;
 * without it, it takes one. A leader never waits for company.
 *
 * <p><b>Invariant: decide inside the lock.</b> Every decision (a prior value, compare-and-set,
 * {@code setIfAbsent}, whether a batch's delete removes something, whether a prior value still
 * decodes) is made against the table as it is while this connection holds SQLite's write lock: the
 * leader runs {@code BEGIN IMMEDIATE} (waiting in SQLite's busy handler while another connection
 * writes), then compares {@code data_version} and reloads what another connection changed, inside
 * that same transaction, then decides, writes and commits. No auto-committed fast path: a decision
 * made before the lock could rest on a row another connection is committing right then. The lone
 * writer pays two more statement steps (BEGIN, COMMIT), no extra fsync.
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
 * other failure of a COMMIT leaves the outcome unknown, so the log refuses further writes until
 * reopened. Nothing after a successful COMMIT can fail a request: if publishing to the cache fails,
 * the requests still complete and the cache is reloaded (or marked stale, reloaded before the next
 * decision).
 *
 * <p><b>The table's shape.</b> A reload first re-checks the {@code kv} table if {@code PRAGMA
 * schema_version} moved, and fails like any failed reload if it is no longer the one KVLog created
 * (see {@link TableShape}, which keeps that invariant).
 *
 * <p><b>Invariant: the recorded {@code data_version} names a state the cache holds.</b> It is
 * recorded only after the rows read at that version were published. A reload that fails (say a key
 * that is not valid UTF-8) records nothing, so the next write or check tries again, and writes fail
 * with the reload's error, the table unchanged, until the cause is repaired: never decided on what
 * it failed to read.
 */
public final class CommitLog implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(CommitLog.class);

  /** Most requests committed in one transaction: bounds the time followers wait for a leader. */
  public static final int MAX_GROUP = 1024;

  private final Path path;
  private final Connection connection;
  private final WarmCache cache;
  private final boolean groupCommit;
  private final Housekeeper housekeeper;
  private final CommitStats stats;
  private final ConcurrentLinkedQueue<Request> pending = new ConcurrentLinkedQueue<>();
  private final ReentrantLock lock = new ReentrantLock();
  // Write side: from before COMMIT until the cache is published. Read side: while a scan takes
  // its snapshot. See "scans are never ahead of get" above.
  private final ReadWriteLock publication = new ReentrantReadWriteLock();
  // sqlite-jdbc finalizes a statement whose execution failed, so all of them are re-prepared after
  // any failure (see reprepare()).
  private PreparedStatement upsert; // all fields below: guarded by lock
  private PreparedStatement delete;
  private PreparedStatement begin;
  private PreparedStatement commit;
  private PreparedStatement rollback;
  private PreparedStatement dataVersionQuery;
  private long dataVersion; // the version whose rows the cache holds; see the invariant above
  private boolean cacheStale; // publishing a commit failed: reload before the next decision
  private long checkedSchemaVersion; // the schema_version whose kv table TableShape accepted
  private String lastPollFailure; // the message last logged by a failed poll
  private final Object fileKey; // the database file's identity (device and inode) at open
  private boolean closed;
  private SQLException failure; // the unclean failure that stopped writes

  private CommitLog(
      Path path,
      Connection connection,
      boolean groupCommit,
      Housekeeper housekeeper,
      CommitStats stats)
      throws SQLException {
    this.path = path;
    this.connection = connection;
    this.groupCommit = groupCommit;
    this.housekeeper = housekeeper;
    this.stats = stats;
    this.fileKey = StoreFiles.fileKey(path);
    long[] version = new long[2];
    try {
      this.cache =
          WarmCache.load(
              connection,
              () -> {
                version[0] = dataVersion();
                version[1] = schemaVersion();
                String problem = TableShape.problem(connection);
                if (problem != null) { // changed since Database.checkIsStore looked
                  throw new StoreOpenException(path + " cannot be opened: " + problem);
                }
              });
    } catch (CorruptValueException e) {
      throw new StoreOpenException("cannot open " + path + ": " + e.getMessage(), e);
    }
    this.dataVersion = version[0];
    this.checkedSchemaVersion = version[1];
    prepare();
    housekeeper.pollWith(this::pollExternalChanges);
  }

  /**
   * Loads the table into a new cache on {@code connection}, which the log then owns, and returns
   * the log.
   */
  public static CommitLog open(
      Path path,
      Connection connection,
      boolean groupCommit,
      Housekeeper housekeeper,
      CommitStats stats)
      throws SQLException {
    return new CommitLog(path, connection, groupCommit, housekeeper, stats);
  }

  /** The cache this log keeps equal to the table. */
  public WarmCache cache() {
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
    dataVersionQuery = connection.prepareStatement("PRAGMA data_version");
  }

  /** Durably maps {@code key} to {@code value}; returns the prior value or null. */
  public String set(String key, String value) {
    return set(key, value, Function.identity());
  }

  /**
   * Durably maps {@code key} to {@code value}; returns the prior value, decoded by {@code
   * decodePrior} under the lock before anything is written, or null if absent.
   *
   * @throws WriteFailedException if {@code decodePrior} throws {@link CorruptValueException}: the
   *     table is unchanged, the exception is the cause
   */
  public <T> T set(String key, String value, Function<String, T> decodePrior) {
    return cast(submit(new Put(key, value, decodePrior)));
  }

  /** Durably removes {@code key}; returns the removed value or null (then nothing is written). */
  public String delete(String key) {
    return delete(key, Function.identity());
  }

  /**
   * {@link #delete(String)}, with the prior value decoded as in {@link #set(String, String,
   * Function)}.
   */
  public <T> T delete(String key, Function<String, T> decodePrior) {
    return cast(submit(new Put(key, null, decodePrior)));
  }

  /**
   * Durably maps {@code key} to {@code value} if it is absent; returns the present value or null.
   */
  public String setIfAbsent(String key, String value) {
    return setIfAbsent(key, value, Function.identity());
  }

  /**
   * {@link #setIfAbsent(String, String)}, the present value decoded as in {@link #set(String,
   * String, Function)}.
   */
  public <T> T setIfAbsent(String key, String value, Function<String, T> decodePresent) {
    return cast(submit(new SetIfAbsent(key, value, decodePresent)));
  }

  @SuppressWarnings("unchecked") // a request's result has the type its decoder returns
  private static <T> T cast(Object result) {
    return (T) result;
  }

  /**
   * If {@code key} maps to {@code expected} (null: absent), durably maps it to {@code update}
   * (null: removes it) and returns true; otherwise writes nothing and returns false.
   */
  public boolean compareAndSet(String key, String expected, String update) {
    return (Boolean) submit(new CompareAndSet(key, expected, update));
  }

  /** Applies all changes (a null value removes its key) in one transaction, or none of them. */
  public void write(List<Change> changes) {
    if (!changes.isEmpty()) {
      submit(new Batch(List.copyOf(changes)));
    }
  }

  /**
   * Reloads the cache if another connection committed since the last check. Waits for writes in
   * progress. Returns true if the cache changed.
   */
  public boolean syncExternalChanges() {
    lock();
    try {
      checkWritable();
      return reloadIfChangedExternally(false);
    } catch (CorruptValueException e) {
      throw e;
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(path, e), e);
    } finally {
      unlock();
    }
  }

  /** A read of SQLite on a connection that is not the log's. */
  @FunctionalInterface
  public interface SqlRead<T> {
    T read(Connection c) throws SQLException;
  }

  /**
   * Runs {@code read} on {@code c} (auto-commit, no transaction) in one read transaction whose
   * snapshot no later {@code get} contradicts: every commit of this log in it is already published
   * to the cache, and another connection's commit in it is reloaded into the cache before this
   * returns (see "scans are never ahead of get" above).
   *
   * @throws SQLException if SQLite fails
   * @throws CorruptValueException if the reload finds text that is not valid UTF-8
   * @throws StoreClosedException if the log is closed
   */
  public <T> T readConsistent(Connection c, SqlRead<T> read) throws SQLException {
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
    lock();
    try {
      checkOpen();
      if (failure
          == null) { // else the writer connection's state is unknown; reads stay as they are
        reloadIfChangedExternally(false);
      }
    } catch (CorruptValueException e) {
      throw e;
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(path, e), e);
    } finally {
      unlock();
    }
    return result;
  }

  /**
   * A copy of the cache from between two publications, made without blocking writers if they let
   * it, else under the lock.
   */
  public Map<String, String> cacheCopy() {
    Map<String, String> copy = cache.copy(3);
    if (copy != null) {
      return copy;
    }
    lock();
    try {
      checkOpen();
      return cache.copy(1);
    } finally {
      unlock();
    }
  }

  /**
   * Checks for external changes if no write is in progress; a write in progress checks by itself.
   * Called by the housekeeper.
   */
  void pollExternalChanges() {
    if (!lock.tryLock()) {
      return;
    }
    try {
      if (!closed && failure == null) {
        reloadIfChangedExternally(false);
        lastPollFailure = null;
      }
    } catch (SQLException | KVLogException e) {
      // The same failure recurs every interval until someone repairs the table: warn once.
      if (!String.valueOf(e.getMessage()).equals(lastPollFailure)) {
        lastPollFailure = String.valueOf(e.getMessage());
        log.warn("cannot check {} for changes by other connections", path, e);
      }
    } finally {
      unlock();
    }
  }

  // ---- queue and leader ----

  private Object submit(Request request) {
    pending.add(request);
    boolean interrupted = false;
    try {
      for (; ; ) {
        if (request.done) {
          return request.result();
        }
        if (lock.tryLock()) {
          List<Request> group = List.of();
          try {
            if (!request.done) {
              group = drain();
              commit(group);
            }
          } catch (RuntimeException | Error e) {
            // A bug, not a SQLite failure (those are handled in commit): never strand a waiter,
            // and since where it struck is unknown, neither is whether the write was applied.
            if (failure == null) {
              failure = new SQLException("unexpected failure on the write path: " + e, e);
            }
            rollbackQuietly(failure);
            for (Request r : group) {
              if (!r.done) {
                r.fail(
                    new WriteFailedException(
                        "write to "
                            + path
                            + " failed unexpectedly; it may or may not have been"
                            + " applied, and the store refuses further writes until reopened: "
                            + e,
                        e,
                        true,
                        true));
              }
            }
            log.error("unexpected failure on the write path of {}", path, e);
          } finally {
            lock.unlock();
          }
          // Outside the lock, so the next leader can start while this one wakes its followers.
          wakeNextLeader();
          for (Request r : group) {
            if (r != request) {
              LockSupport.unpark(r.waiter);
            }
          }
          continue;
        }
        LockSupport.park(this);
        if (Thread.interrupted()) {
          if (pending.remove(request)) {
            wakeNextLeader(); // we may have been woken to lead
            interrupted = true; // restored by the finally block
            throw new KVLogException(
                "interrupted while waiting to write to " + path + "; the write was not applied");
          }
          interrupted = true; // being committed: wait for the outcome, keep the interrupt
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * Wakes the first queued writer so it can lead the next group. Called after every release of the
   * lock: a writer that queued while the lock was held is thereby never stranded.
   */
  private void wakeNextLeader() {
    Request next = pending.peek();
    if (next != null) {
      LockSupport.unpark(next.waiter);
    }
  }

  /** Takes the next group from the queue. Holds the lock. */
  private List<Request> drain() {
    List<Request> group = new ArrayList<>();
    int max = groupCommit ? MAX_GROUP : 1;
    for (Request r; group.size() < max && (r = pending.poll()) != null; ) {
      group.add(r);
    }
    return group;
  }

  /**
   * Commits {@code group}, leaving every request done; the caller wakes their threads after
   * releasing the lock. Holds the lock.
   */
  private void commit(List<Request> group) {
    if (group.isEmpty()) {
      return;
    }
    try {
      checkWritable();
      checkFileInPlace();
    } catch (RuntimeException e) {
      group.forEach(r -> r.fail(e));
      return;
    }
    long start = System.nanoTime();
    int committed = commitTogether(group);
    if (committed > 0) {
      try {
        stats.recordCommit(committed, System.nanoTime() - start);
        housekeeper.afterCommit(connection);
      } catch (RuntimeException e) { // the group is committed and told so: only log
        log.error("bookkeeping after a commit to {} failed", path, e);
      }
    }
  }

  /**
   * All requests in one transaction, decided inside it (see "decide inside the lock"). A request
   * whose statement fails is dropped and the rest retried in a fresh transaction, so one bad
   * request never fails its neighbours. Returns how many committed.
   */
  private int commitTogether(List<Request> group) {
    List<Request> live = new ArrayList<>(group);
    retry:
    while (!live.isEmpty()) {
      try {
        begin.execute(); // takes SQLite's write lock, or waits for it in the busy handler
      } catch (SQLException e) {
        failEach(live, e, false);
        return 0;
      }
      try {
        reloadIfChangedExternally(true);
      } catch (SQLException | RuntimeException e) {
        // Nothing was written in this transaction: rolling it back leaves the table unchanged.
        SQLException cause = e instanceof SQLException ? (SQLException) e : new SQLException(e);
        boolean rolledBack = rollbackQuietly(cause);
        for (Request r : live) {
          r.fail(
              rolledBack
                  ? new WriteFailedException(
                      r.describe()
                          + " in "
                          + path
                          + " was not applied (the table is unchanged): "
                          + (e instanceof SchemaException
                              ? ""
                              : "another connection changed the table and reading the change"
                                  + " failed: ")
                          + e.getMessage(),
                      e,
                      false,
                      false)
                  : failed(r, cause, true));
        }
        return 0;
      }
      Changes changes = new Changes(cache);
      List<Object> results = new ArrayList<>(live.size());
      for (int i = 0; i < live.size(); i++) {
        Request r = live.get(i);
        try {
          results.add(r.apply(changes));
        } catch (Refused e) { // decided before it wrote anything: fails alone, no rollback
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
          cache.publish(changes.changed);
        } catch (RuntimeException | Error e) {
          repairCacheAfterCommit(e);
        } finally {
          for (int i = 0; i < live.size(); i++) {
            live.get(i).complete(results.get(i));
          }
        }
      } finally {
        publication.writeLock().unlock();
      }
      return live.size();
    }
    return 0;
  }

  /** Test hook: runs after a successful COMMIT, before the cache is published; gets the path. */
  static volatile Consumer<Path> afterCommitHookForTests;

  /**
   * The group is durable but publishing it failed: reload the whole table now, or if that fails
   * too, reload before the next decision. Holds the lock.
   */
  private void repairCacheAfterCommit(Throwable e) {
    log.error(
        "a commit to {} succeeded but updating the cache failed; reloading it from the table",
        path,
        e);
    cacheStale = true;
    try {
      reloadIfChangedExternally(false);
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

  // ---- external changes ----

  /**
   * Refuses to write once the database file was deleted or replaced: in WAL mode SQLite would go on
   * appending to a WAL whose database is gone, and a reopen would not find those writes. One stat()
   * per group.
   */
  private void checkFileInPlace() {
    Object now = StoreFiles.fileKey(path);
    if (fileKey != null && !fileKey.equals(now)) {
      SQLException e =
          new SQLException(
              path + (now == null ? " no longer exists" : " was replaced by another file"));
      failure = e;
      log.error("{}: refusing further writes", e.getMessage());
      throw new WriteFailedException(
          "cannot write to "
              + path
              + ": the database file was deleted or moved while the store was open, so no write"
              + " can be made durable; close the store and put the file back (or restore a backup)",
          e,
          true);
    }
  }

  /** Checked before every group, so prepared once: a step, not a parse. */
  private long dataVersion() throws SQLException {
    if (dataVersionQuery == null) { // while loading, before prepare()
      return Long.parseLong(Database.pragma(connection, "data_version"));
    }
    try (ResultSet rs = dataVersionQuery.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /**
   * Reloads the cache if another connection committed since the state it holds (or if it is stale),
   * publishing the differences at once and only then recording the version read. Holds the lock.
   *
   * @param inTransaction whether the connection is inside the write transaction (then the read
   *     happens in it, at the state the write will be decided on)
   * @throws CorruptValueException if a changed row is not valid UTF-8; nothing is recorded
   */
  private boolean reloadIfChangedExternally(boolean inTransaction) throws SQLException {
    if (!cacheStale && dataVersion() == dataVersion) {
      return false;
    }
    checkShape();
    long[] version = new long[1];
    Map<String, String> diff =
        cache.differencesFrom(connection, inTransaction, () -> version[0] = dataVersion());
    cache.publish(diff);
    dataVersion = version[0];
    cacheStale = false;
    stats.recordExternalReload();
    log.info(
        "{} was changed by another connection; reloaded the cache ({} keys differed)",
        path,
        diff.size());
    return true;
  }

  private long schemaVersion() throws SQLException {
    return Long.parseLong(Database.pragma(connection, "schema_version"));
  }

  /**
   * Checks the kv table again if another connection changed the schema since it was last accepted
   * (see {@link TableShape}); records nothing unless it passes, so writes stay refused until the
   * table is repaired. Holds the lock.
   *
   * @throws SchemaException if the table is not the one KVLog created; nothing is recorded
   */
  private void checkShape() throws SQLException {
    long version = schemaVersion();
    if (version == checkedSchemaVersion) {
      return;
    }
    String problem = TableShape.problem(connection);
    if (problem != null) {
      throw new SchemaException(
          path
              + " was changed by another tool and "
              + problem
              + " Until then, writes are refused with the table unchanged.");
    }
    checkedSchemaVersion = version;
  }

  // ---- failures ----

  /** Releases the lock and wakes a queued writer, which might have missed its chance to lead. */
  private void unlock() {
    lock.unlock();
    wakeNextLeader();
  }

  /** Takes the lock for a read (a scan, a copy, a check for external changes). */
  private void lock() {
    try {
      lock.lockInterruptibly();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new KVLogException(
          "interrupted while waiting to read "
              + path
              + " (a commit was in progress); nothing was returned and nothing was changed",
          e);
    }
  }

  private void checkOpen() {
    if (closed) {
      throw new StoreClosedException(path + " is closed");
    }
  }

  private void checkWritable() {
    checkOpen();
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

  /**
   * Re-prepares the statements, classifies the failure, and if its outcome is unknown (or {@code
   * unknown} says so) stops further writes.
   */
  private WriteFailedException failed(Request r, SQLException e, boolean unknown) {
    return describeFailure(r, e, classify(e, unknown));
  }

  /**
   * {@link #failed} for each of {@code requests}, which {@code e} failed together: each is told
   * about its own request.
   */
  private void failEach(List<Request> requests, SQLException e, boolean unknown) {
    boolean clean = classify(e, unknown);
    for (Request r : requests) {
      r.fail(describeFailure(r, e, clean));
    }
  }

  /** Re-prepares the statements; returns whether the store goes on (else it refuses writes). */
  private boolean classify(SQLException e, boolean unknown) {
    int code = Errors.primaryCode(e);
    boolean clean = !unknown && Errors.leftStoreUnchanged(code);
    if (!reprepare(e)) {
      clean = false;
    }
    if (!clean && failure == null) {
      failure = e;
      log.error("write to {} failed with an unknown outcome; refusing further writes", path, e);
    }
    return clean;
  }

  private WriteFailedException describeFailure(Request r, SQLException e, boolean clean) {
    int code = Errors.primaryCode(e);
    String hint =
        Errors.extendedCode(e) == Errors.READONLY_DBMOVED
            ? "the database file was deleted or moved while the store was open, so no write can be"
                + " made durable; close the store and put the file back (or restore a backup)"
            : Errors.writeHint(clean ? code : -1);
    return new WriteFailedException(
        r.describe() + " in " + path + " failed: " + e.getMessage() + "; " + hint, e, !clean);
  }

  private boolean reprepare(SQLException e) {
    try {
      Resources.closeAll(
          "cannot close statements", upsert, delete, begin, commit, rollback, dataVersionQuery);
      prepare();
      return true;
    } catch (SQLException | RuntimeException again) {
      e.addSuppressed(again);
      return false;
    }
  }

  /**
   * Waits for the write in progress, then checkpoints the WAL into the database and truncates it,
   * so a closed store is one self-contained file. Queued writes fail with {@link
   * StoreClosedException}. The connection goes back to the pool.
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
          "cannot close the writer connection of " + path,
          upsert,
          delete,
          begin,
          commit,
          rollback,
          dataVersionQuery,
          connection);
    } finally {
      lock.unlock();
    }
    // Writers that queued meanwhile find the log closed when they lead.
    wakeNextLeader();
  }

  // ---- requests ----

  /** The changes of one group, over the cache: what each request sees as the current state. */
  private final class Changes {
    private final WarmCache base;
    private final Map<String, String> changed = new HashMap<>(); // null value: removed

    Changes(WarmCache base) {
      this.base = base;
    }

    String current(String key) {
      return changed.containsKey(key) ? changed.get(key) : base.get(key);
    }

    /** Writes {@code value} (null: removes) under {@code key}; skips a removal of nothing. */
    void write(String key, String value) throws SQLException {
      if (value != null) {
        upsert.setString(1, key);
        upsert.setString(2, value);
        upsert.executeUpdate();
      } else {
        if (current(key) == null) {
          return;
        }
        delete.setString(1, key);
        delete.executeUpdate();
      }
      changed.put(key, value);
    }
  }

  /**
   * Decodes a prior value under the lock, before the request writes: a value the codec cannot read
   * refuses the request with the table unchanged, instead of failing after the commit.
   */
  private Object decodeBeforeWriting(Request r, String prior, Function<String, ?> decode)
      throws Refused {
    if (prior == null) {
      return null;
    }
    try {
      return decode.apply(prior);
    } catch (CorruptValueException e) {
      throw new Refused(
          new WriteFailedException(
              r.describe()
                  + " in "
                  + path
                  + " was not applied (the table is unchanged): it returns the prior value, which"
                  + " cannot be decoded: "
                  + e.getMessage(),
              e,
              false,
              false));
    }
  }

  /** A request refused before it executed any statement; carries what its caller is told. */
  private static final class Refused extends Exception {
    private static final long serialVersionUID = 1L;
    final transient WriteFailedException failure;

    Refused(WriteFailedException failure) {
      super(null, null, false, false);
      this.failure = failure;
    }
  }

  private abstract static class Request {
    final Thread waiter = Thread.currentThread();
    private Object result;
    private RuntimeException error;
    volatile boolean done;

    /**
     * Executes this request's statements; returns its result.
     *
     * @throws Refused if the request refused itself before executing any statement
     */
    abstract Object apply(CommitLog.Changes changes) throws SQLException, Refused;

    abstract String describe();

    /** Records the result; the leader wakes the waiter once it released the lock. */
    final void complete(Object value) {
      result = value;
      done = true;
    }

    final void fail(RuntimeException e) {
      error = e;
      done = true;
    }

    final Object result() {
      if (error != null) {
        throw error;
      }
      return result;
    }
  }

  private final class Put extends Request {
    final String key;
    final String value;
    final Function<String, ?> decodePrior;

    Put(String key, String value, Function<String, ?> decodePrior) {
      this.key = key;
      this.value = value;
      this.decodePrior = decodePrior;
    }

    @Override
    Object apply(CommitLog.Changes changes) throws SQLException, Refused {
      Object prior = decodeBeforeWriting(this, changes.current(key), decodePrior);
      changes.write(key, value);
      return prior;
    }

    @Override
    String describe() {
      return (value == null ? "delete" : "set") + " of key " + Text.excerpt(key);
    }
  }

  private static final class CompareAndSet extends Request {
    final String key;
    final String expected;
    final String update;

    CompareAndSet(String key, String expected, String update) {
      this.key = key;
      this.expected = expected;
      this.update = update;
    }

    @Override
    Object apply(CommitLog.Changes changes) throws SQLException {
      if (!Objects.equals(changes.current(key), expected)) {
        return Boolean.FALSE;
      }
      if (!Objects.equals(expected, update)) {
        changes.write(key, update);
      }
      return Boolean.TRUE;
    }

    @Override
    String describe() {
      return "compareAndSet of key " + Text.excerpt(key);
    }
  }

  private final class SetIfAbsent extends Request {
    final String key;
    final String value;
    final Function<String, ?> decodePresent;

    SetIfAbsent(String key, String value, Function<String, ?> decodePresent) {
      this.key = key;
      this.value = value;
      this.decodePresent = decodePresent;
    }

    @Override
    Object apply(CommitLog.Changes changes) throws SQLException, Refused {
      String present = changes.current(key);
      if (present == null) {
        changes.write(key, value);
        return null;
      }
      return decodeBeforeWriting(this, present, decodePresent);
    }

    @Override
    String describe() {
      return "setIfAbsent of key " + Text.excerpt(key);
    }
  }

  private static final class Batch extends Request {
    final List<Change> changes;

    Batch(List<Change> changes) {
      this.changes = changes;
    }

    @Override
    Object apply(CommitLog.Changes state) throws SQLException {
      for (Change c : changes) {
        state.write(c.key(), c.value());
      }
      return null;
    }

    @Override
    String describe() {
      return "batch of "
          + changes.size()
          + " changes (first key "
          + Text.excerpt(changes.get(0).key())
          + ")";
    }
  }
}
