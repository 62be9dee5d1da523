package dev.kvlog.sqlite;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The store's one background thread. It has two jobs: keep the WAL bounded while taking as little
 * as possible from writers, and notice changes other processes commit while no one writes.
 *
 * <p><b>Checkpoints.</b>
 *
 * <p>SQLite's automatic checkpoint runs inside the commit that crosses 1000 pages, so that commit
 * (and in a group commit, the whole group) waits while megabytes are copied into the database. But
 * a checkpoint that runs entirely beside the writer never finishes under steady load: frames keep
 * arriving while it copies, the WAL is never fully checkpointed, so it is never restarted and grows
 * without bound (measured: 460 MB in 3 s with 64 writers).
 *
 * <p>So the work is split. The store's connections run with {@code wal_autocheckpoint=0}. When a
 * commit finds the WAL larger than the threshold (the writer looks every {@link
 * #COMMITS_BETWEEN_LOOKS}th commit, or sooner after large ones), this daemon thread, on its own
 * pooled connection, runs {@code PRAGMA wal_checkpoint(PASSIVE)}, which copies the bulk of the
 * frames without blocking anyone, then further passes until one copies every frame with nothing
 * committed meanwhile: only such a pass syncs the database file, and that sync writes back every
 * page copied since the last one, so it must happen here, not under the writer lock (see {@link
 * #checkpointInBackground}). Unless a commit already restarted the WAL, the first commit after them
 * runs a last PASSIVE checkpoint on the writer connection, under the writer lock: it copies only
 * the frames written meanwhile and syncs the database (a few commits' pages if a background pass
 * completed, else everything the background copied). Once every frame is copied and synced, the
 * next commit restarts the WAL at its beginning; {@code journal_size_limit} truncates the file back
 * to the threshold.
 *
 * <p>A reader that keeps a read transaction open (a {@code sqlite3} shell in {@code BEGIN}, say)
 * pins the frames after its snapshot and starves every checkpoint: the WAL then grows until the
 * reader lets go. That is logged as a warning once the WAL exceeds 16 times the threshold.
 *
 * <p><b>External changes.</b> Every {@code pollInterval} the thread runs the poll task given to
 * {@link #start} (the writer's check of SQLite's {@code data_version} against the one its cache
 * reflects, skipped while a write is in progress: every write checks it anyway). This bounds how
 * long a read can miss a change made with {@code sqlite3} to about one interval. The housekeeper
 * does not know the writer: the provider hands the writer {@link #afterCommit} and the housekeeper
 * the poll task, so neither is built around the other.
 *
 * <p>Thread-safe: {@link #afterCommit} is called under the writer lock, the rest from any thread.
 */
final class Housekeeper implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Housekeeper.class);

  /**
   * Commits between two looks at the WAL's size. A look is a stat() of the {@code -wal} file, and
   * since Linux 6.13 (multigrain timestamps) a stat makes the next write to that file stamp a fresh
   * fine-grained ctime, so the next commit's fsync must also write the dirty inode: a stat after
   * every commit made a 1-writer commit cost about 190 us instead of 130 (issue 14). Looking every
   * 32nd commit leaves that cost on one commit in 32. Large commits are looked at sooner (see
   * {@link #afterCommit}), so the WAL outgrows the threshold by about a quarter of it, or by one
   * commit, before its checkpoint is requested.
   */
  static final int COMMITS_BETWEEN_LOOKS = 32;

  /**
   * Most PASSIVE passes the background thread runs for one checkpoint (see {@link
   * #checkpointInBackground}). At 8 writers the bulk pass copies ~900 pages in 5-25 ms; the
   * following ones copy a few commits each.
   */
  static final int BACKGROUND_PASSES = 8;

  private final Path wal;
  private final Connection connection;
  private final long thresholdBytes;
  private final CommitStats stats;
  private final Thread thread;
  private final long pollNanos;
  private volatile Runnable poll = () -> {}; // set once by start()
  private volatile boolean requested; // the background checkpoint should run or is running
  private volatile boolean copiedInBackground; // it ran; the writer should finish the job
  private volatile boolean closed;
  private boolean warnedStarved; // guarded by the writer lock
  private int commitsSinceLook; // guarded by the writer lock
  private long bytesSinceLook; // estimated WAL bytes committed since the last look; same guard

  /**
   * Prepares the thread; {@link #start} starts it.
   *
   * @param pollInterval how often to look for external changes; zero: never
   */
  Housekeeper(
      StoreFileSet files,
      Connection connection,
      long thresholdBytes,
      Duration pollInterval,
      CommitStats stats) {
    this.wal = files.wal();
    this.connection = connection;
    this.thresholdBytes = thresholdBytes;
    this.pollNanos = pollInterval.toNanos();
    this.stats = stats;
    this.thread = new Thread(this::run, "kvlog-housekeeper:" + files.database().getFileName());
    thread.setDaemon(true);
  }

  /**
   * Starts the thread, which runs {@code poll} every poll interval (its exceptions are logged).
   * Called once, after the writer exists.
   */
  void start(Runnable poll) {
    this.poll = poll;
    thread.start();
  }

  /**
   * Called by the leader after each commit, holding the writer lock, with the writer connection:
   * usually nothing; every {@link #COMMITS_BETWEEN_LOOKS}th commit, or sooner once the commits
   * since the last look wrote about a quarter of the threshold ({@code walBytesEstimate}: the
   * writer's estimate of what each commit appended, so large groups and batches cannot carry the
   * WAL far past its threshold between looks), one stat() call and perhaps a wake-up for the
   * background checkpoint; the first commit after that checkpoint ran, the short finishing one.
   */
  void afterCommit(Connection writer, long walBytesEstimate) {
    if (requested) {
      return;
    }
    if (!copiedInBackground) {
      bytesSinceLook += walBytesEstimate;
      if (++commitsSinceLook < COMMITS_BETWEEN_LOOKS && bytesSinceLook < thresholdBytes / 4) {
        return;
      }
      commitsSinceLook = 0;
      bytesSinceLook = 0;
      if (walBytes() > thresholdBytes) {
        requested = true;
        LockSupport.unpark(thread);
      }
      return;
    }
    copiedInBackground = false;
    long[] result = checkpoint(writer);
    if (result != null) {
      long size = walBytes();
      if (result[1] < result[0] && size > 16 * thresholdBytes && !warnedStarved) {
        warnedStarved = true;
        log.warn(
            "the WAL of {} is {} bytes and cannot be checkpointed past frame {} of {}: another"
                + " connection holds a read transaction open; end it to let the WAL shrink",
            wal,
            size,
            result[1],
            result[0]);
      } else if (result[1] == result[0]) {
        warnedStarved = false;
      }
    }
  }

  private long walBytes() {
    try {
      return Files.size(wal);
    } catch (IOException e) {
      return 0;
    }
  }

  private void run() {
    long nextPoll = System.nanoTime() + pollNanos;
    while (!closed) {
      if (requested) {
        copiedInBackground = !checkpointInBackground();
        requested = false;
      }
      if (pollNanos > 0 && System.nanoTime() - nextPoll >= 0) {
        try {
          poll.run();
        } catch (RuntimeException e) {
          log.warn("checking {} for external changes failed", wal, e);
        }
        nextPoll = System.nanoTime() + pollNanos;
      }
      if (!requested && !closed) {
        if (pollNanos > 0) {
          LockSupport.parkNanos(this, Math.max(0, nextPoll - System.nanoTime()));
        } else {
          LockSupport.park(this);
        }
      }
    }
  }

  /**
   * The background part of a checkpoint: PASSIVE passes on the housekeeper's connection until one
   * copied every frame with nothing committed meanwhile (SQLite then syncs the database, here), at
   * most {@link #BACKGROUND_PASSES}. Returns true if the writer has nothing left to do: a commit
   * already restarted the WAL. Otherwise the writer's finishing step runs; after a completed pass
   * it copies and syncs only what was committed since.
   *
   * <p>Why passes: a PASSIVE checkpoint that finds new frames at its end (under load, always for
   * the first, long one) copies without syncing the database; the sync comes with the first
   * checkpoint that copies everything, and it writes back every page copied since the last sync.
   * With one pass here, that was the writer's finishing step: under the writer lock it synced the
   * ~1,000 pages the background had copied (7-10 ms at 8 writers, issue 14). Each further pass
   * copies only what was committed during the previous one, so a pass soon completes and syncs the
   * bulk here; what the writer may still have to sync is a few commits' pages.
   */
  private boolean checkpointInBackground() {
    long[] last = checkpoint(connection);
    for (int pass = 1; last != null && pass < BACKGROUND_PASSES && !closed; pass++) {
      long[] r = checkpoint(connection);
      if (r == null || r[0] < 0) { // failed, or busy: another connection is checkpointing
        return false;
      }
      if (r[0] < last[0]) {
        return true; // a commit restarted the WAL: the last complete pass synced the database
      }
      if (r[0] == last[0] && last[1] == last[0]) {
        // The last pass copied everything and synced, nothing came since. The WAL restarts only
        // when a write transaction begins with every frame copied; the writer's (cheap) step
        // makes sure one does, even if a long transaction was open meanwhile.
        return false;
      }
      last = r;
    }
    return false;
  }

  /** Runs a PASSIVE checkpoint; returns {frames in the WAL, frames copied}, or null on failure. */
  private long[] checkpoint(Connection c) {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("PRAGMA wal_checkpoint(PASSIVE)")) {
      rs.next();
      stats.recordCheckpoint();
      return new long[] {rs.getLong(2), rs.getLong(3)};
    } catch (SQLException e) {
      log.warn("checkpoint of {} failed; will retry after a later commit", wal, e);
      return null;
    }
  }

  /**
   * Stops the thread (after the checkpoint in progress), if it was started, and returns the
   * connection.
   */
  @Override
  public void close() {
    closed = true;
    LockSupport.unpark(thread);
    try {
      thread.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    Resources.closeAll("cannot return the housekeeping connection of " + wal, connection);
  }
}
