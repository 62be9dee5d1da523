package dev.kvlog.internal;

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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The single writer: every change to the store goes through here.
 *
 * <p><b>Queue and leader.</b> A write is a {@link Request} appended to a queue. The thread that
 * gets the writer lock (the leader) takes queued requests and commits them; the others park until
 * their request is done. With group commit the leader takes everything queued (up to {@link
 * #MAX_GROUP}) and commits it as one SQLite transaction, so concurrent writers share one fsync;
 * without it, it takes one. A leader never waits for company: a lone write is committed at once, as
 * an auto-committed statement with no BEGIN/COMMIT round trips.
 *
 * <p><b>Visibility.</b> Under the lock, a request reads prior values from the {@link WarmCache}
 * (plus the changes of earlier requests in the same group), executes its statements, and the cache
 * changes only after the COMMIT returned, before the lock is released and before any caller is
 * told. Hence: no one ever sees a value that is not durable; prior values and compare-and-set
 * decisions agree with the order of commits; and the cache equals what a reopen reads.
 *
 * <p><b>Failures.</b> A request whose statement fails is rolled back alone: the transaction is
 * rolled back, the failing request gets its error, and the rest of the group is retried without it.
 * A failed COMMIT fails the whole group. A failure SQLite guarantees to be clean (disk full, busy,
 * read-only) changes nothing and the store goes on; any other failure of a COMMIT leaves the
 * outcome unknown, so the log refuses further writes until reopened rather than let the cache and
 * the table drift apart.
 *
 * <p><b>External writers.</b> Before each group, and from {@link #syncExternalChanges()}, the log
 * compares SQLite's {@code data_version} (which changes when another connection commits) with the
 * last value it saw, and reloads the cache if another process changed the table.
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
  // sqlite-jdbc finalizes a statement whose execution failed, so all of them are re-prepared after
  // any failure (see reprepare()).
  private PreparedStatement upsert; // all fields below: guarded by lock
  private PreparedStatement delete;
  private PreparedStatement begin;
  private PreparedStatement commit;
  private PreparedStatement rollback;
  private PreparedStatement dataVersionQuery;
  private long dataVersion;
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
    this.cache = WarmCache.load(connection, () -> dataVersion = dataVersion());
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
    return (String) submit(new Put(key, value));
  }

  /** Durably removes {@code key}; returns the removed value or null (then nothing is written). */
  public String delete(String key) {
    return (String) submit(new Put(key, null));
  }

  /**
   * Durably maps {@code key} to {@code value} if it is absent; returns the present value or null.
   */
  public String setIfAbsent(String key, String value) {
    return (String) submit(new SetIfAbsent(key, value));
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

  /** One change of a batch: sets {@code key} to {@code value}, or removes it if value is null. */
  public record Change(String key, String value) {
    public Change {
      Objects.requireNonNull(key, "key");
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
      return reloadIfChangedExternally();
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(path, e), e);
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
        reloadIfChangedExternally();
      }
    } catch (SQLException e) {
      log.warn("cannot check {} for changes by other connections", path, e);
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
            // A bug, not a SQLite failure (those are handled in commit): never strand a waiter.
            for (Request r : group) {
              if (!r.done) {
                r.fail(new KVLogException("write to " + path + " failed unexpectedly: " + e, e));
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
      reloadIfChangedExternally();
    } catch (RuntimeException e) {
      group.forEach(r -> r.fail(e));
      return;
    } catch (SQLException e) {
      KVLogException failure = failed(group.get(0), e, false);
      group.forEach(r -> r.fail(failure));
      return;
    }
    long start = System.nanoTime();
    int committed =
        group.size() == 1 && group.get(0).singleStatement()
            ? commitAlone(group.get(0))
            : commitTogether(group);
    if (committed > 0) {
      stats.recordCommit(committed, System.nanoTime() - start);
      housekeeper.afterCommit(connection);
    }
  }

  /** One request, one auto-committed statement: the lone writer's fast path. Returns 1 or 0. */
  private int commitAlone(Request r) {
    Changes changes = new Changes(cache);
    Object result;
    try {
      result = r.apply(changes);
    } catch (SQLException e) {
      r.fail(failed(r, e, false));
      return 0;
    }
    changes.applyToCache();
    r.complete(result);
    return 1;
  }

  /**
   * All requests in one transaction. A request whose statement fails is dropped and the rest
   * retried in a fresh transaction, so one bad request never fails its neighbours.
   */
  private int commitTogether(List<Request> group) {
    List<Request> live = new ArrayList<>(group);
    retry:
    while (!live.isEmpty()) {
      try {
        begin.execute();
      } catch (SQLException e) {
        KVLogException failure = failed(live.get(0), e, false);
        live.forEach(r -> r.fail(failure));
        return 0;
      }
      Changes changes = new Changes(cache);
      Object[] results = new Object[live.size()];
      for (int i = 0; i < live.size(); i++) {
        Request r = live.get(i);
        try {
          results[i] = r.apply(changes);
        } catch (SQLException e) {
          boolean rolledBack = rollbackQuietly(e);
          r.fail(failed(r, e, !rolledBack));
          live.remove(i);
          if (!rolledBack) {
            live.forEach(other -> other.fail(failed(other, e, true)));
            return 0;
          }
          continue retry;
        }
      }
      try {
        commit.execute();
      } catch (SQLException e) {
        rollbackQuietly(e);
        for (Request r : live) {
          r.fail(failed(r, e, false));
        }
        return 0;
      }
      changes.applyToCache();
      for (int i = 0; i < live.size(); i++) {
        live.get(i).complete(results[i]);
      }
      return live.size();
    }
    return 0;
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

  /** Holds the lock. */
  private boolean reloadIfChangedExternally() throws SQLException {
    if (dataVersion() == dataVersion) {
      return false;
    }
    int changed = cache.reloadFrom(connection, () -> dataVersion = dataVersion());
    stats.recordExternalReload();
    log.info(
        "{} was changed by another connection; reloaded the cache ({} keys differed)",
        path,
        changed);
    return true;
  }

  // ---- failures ----

  /** Releases the lock and wakes a queued writer, which might have missed its chance to lead. */
  private void unlock() {
    lock.unlock();
    wakeNextLeader();
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
    int code = Errors.primaryCode(e);
    boolean clean = !unknown && Errors.leftStoreUnchanged(code);
    if (!reprepare(e)) {
      clean = false;
    }
    if (!clean && failure == null) {
      failure = e;
      log.error("write to {} failed with an unknown outcome; refusing further writes", path, e);
    }
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

    void applyToCache() {
      changed.forEach(
          (k, v) -> {
            if (v == null) {
              base.remove(k);
            } else {
              base.put(k, v);
            }
          });
    }
  }

  private abstract static class Request {
    final Thread waiter = Thread.currentThread();
    private Object result;
    private RuntimeException error;
    volatile boolean done;

    /** Executes this request's statements; returns its result. */
    abstract Object apply(CommitLog.Changes changes) throws SQLException;

    /** True if {@link #apply} executes at most one statement (so it can auto-commit alone). */
    abstract boolean singleStatement();

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

  private static final class Put extends Request {
    final String key;
    final String value;

    Put(String key, String value) {
      this.key = key;
      this.value = value;
    }

    @Override
    Object apply(CommitLog.Changes changes) throws SQLException {
      String prior = changes.current(key);
      changes.write(key, value);
      return prior;
    }

    @Override
    boolean singleStatement() {
      return true;
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
    boolean singleStatement() {
      return true;
    }

    @Override
    String describe() {
      return "compareAndSet of key " + Text.excerpt(key);
    }
  }

  private static final class SetIfAbsent extends Request {
    final String key;
    final String value;

    SetIfAbsent(String key, String value) {
      this.key = key;
      this.value = value;
    }

    @Override
    Object apply(CommitLog.Changes changes) throws SQLException {
      String present = changes.current(key);
      if (present == null) {
        changes.write(key, value);
      }
      return present;
    }

    @Override
    boolean singleStatement() {
      return true;
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
    boolean singleStatement() {
      return changes.size() == 1;
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
