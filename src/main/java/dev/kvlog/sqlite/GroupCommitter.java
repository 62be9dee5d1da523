package dev.kvlog.sqlite;

import dev.kvlog.KVLogException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * The queue of writes and the writer lock: who commits, and when the others learn the outcome.
 * Knows nothing of SQL; what committing a group means is the {@code commit} action it is given.
 * Thread-safe.
 *
 * <p><b>Queue and leader.</b> A write is a {@link Request} appended to a queue. The thread that
 * gets the writer lock (the leader) takes queued requests and commits them; the others park until
 * their request is done. With group commit the leader takes everything queued (up to {@link
 * #MAX_GROUP} requests and {@link #MAX_GROUP_CHARS} of text) and commits it as one transaction, so
 * concurrent writers share one fsync; without it, it takes one. A leader never waits for company,
 * but takes in whoever queued while it ran the group's statements: just before COMMIT the commit
 * action calls {@link #joinLate()}, which adds them to the group, so they share its fsync instead
 * of waiting for the next one (on 2 cores the writers a leader woke are often still on their way
 * back when the next leader drains). Those late requests are members of the group like the others:
 * completed by the action, failed by {@code failUnexpectedly}, woken with the rest.
 *
 * <p><b>No waiter is stranded.</b> Every release of the lock wakes the first queued writer (see
 * {@link #unlock()}), so a writer that queued while the lock was held leads the next group. A
 * leader wakes its followers only after releasing the lock, so the next leader can start meanwhile.
 * An unexpected exception while committing (a bug, not a failure the commit action handles) still
 * completes every request of the group, through the {@code failUnexpectedly} action.
 *
 * <p>The same lock also orders the store's reads that must not interleave with a commit (a scan's
 * sync, a copy of the cache, a check for external changes): they take it with {@link #lock()} and
 * release it with {@link #unlock()}.
 *
 * @param <R> the requests this committer queues
 */
final class GroupCommitter<R extends GroupCommitter.Request<?>> {
  /** Most requests committed in one transaction: bounds the time followers wait for a leader. */
  static final int MAX_GROUP = 1024;

  /**
   * Most text, in chars, that a group takes beyond its first request. Without it, concurrent large
   * batches merged into one transaction as large as all of them together, and the WAL, which cannot
   * be reset while a transaction's frames are being written, grew with the number of writers
   * (sixteen writers of 1 MB batches: a 147 MiB WAL against a 4 MiB threshold). A quarter of that
   * threshold keeps a group's frames a small part of it; small writes never reach it.
   */
  static final long MAX_GROUP_CHARS = 1L << 20;

  private final String store; // names the store in messages
  private final boolean groupCommit;
  private final Consumer<List<R>> commit;
  private final BiConsumer<List<R>, Throwable> failUnexpectedly;
  private final ConcurrentLinkedQueue<R> pending = new ConcurrentLinkedQueue<>();
  private final ReentrantLock lock = new ReentrantLock();
  private List<R> current; // the group being committed; guarded by lock

  /**
   * @param commit commits a group, holding the lock, and leaves every request of it done
   * @param failUnexpectedly called, holding the lock, when {@code commit} threw: must fail every
   *     request of the group that is not done
   */
  GroupCommitter(
      String store,
      boolean groupCommit,
      Consumer<List<R>> commit,
      BiConsumer<List<R>, Throwable> failUnexpectedly) {
    this.store = store;
    this.groupCommit = groupCommit;
    this.commit = commit;
    this.failUnexpectedly = failUnexpectedly;
  }

  /**
   * Queues {@code request} and returns once it is done, having led a group or waited for a leader.
   * Read its outcome with {@link Request#result()}.
   *
   * @throws KVLogException if interrupted before the request was taken into a group (then it was
   *     not applied); once taken, the interrupt is kept and the outcome awaited
   */
  void submit(R request) {
    pending.add(request);
    boolean interrupted = false;
    try {
      for (; ; ) {
        if (request.isDone()) {
          return;
        }
        if (lock.tryLock()) {
          List<R> group = List.of();
          try {
            if (!request.isDone()) {
              group = drain();
              if (!group.isEmpty()) {
                current = group;
                commit.accept(group);
              }
            }
          } catch (RuntimeException | Error e) {
            failUnexpectedly.accept(group, e);
          } finally {
            current = null;
            lock.unlock();
          }
          // Outside the lock, so the next leader can start while this one wakes its followers.
          wakeNextLeader();
          for (R r : group) {
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
                "interrupted while waiting to write to " + store + "; the write was not applied");
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
    R next = pending.peek();
    if (next != null) {
      LockSupport.unpark(next.waiter);
    }
  }

  /** Takes the next group from the queue. Holds the lock. */
  private List<R> drain() {
    List<R> group = new ArrayList<>();
    R first = pending.poll();
    if (first == null) {
      return group;
    }
    group.add(first);
    if (groupCommit) {
      takeMore(group, first.chars());
    }
    return group;
  }

  /**
   * Moves queued requests into {@code group} while it has fewer than {@link #MAX_GROUP} and fewer
   * than {@link #MAX_GROUP_CHARS} chars (it holds {@code chars} now); returns the ones taken.
   */
  private List<R> takeMore(List<R> group, long chars) {
    List<R> taken = new ArrayList<>();
    for (R r; group.size() < MAX_GROUP && chars < MAX_GROUP_CHARS; ) {
      r = pending.peek();
      if (r == null || chars + r.chars() > MAX_GROUP_CHARS || !pending.remove(r)) {
        break;
      }
      chars += r.chars();
      group.add(r);
      taken.add(r);
    }
    return taken;
  }

  /**
   * Called by the {@code commit} action, holding the lock, before it commits: takes the requests
   * queued since the group was drained (up to {@link #MAX_GROUP} in all) into the group being
   * committed, and returns them, so they share its fsync; they are then the action's to complete
   * like the rest of the group, and are woken with it. Empty without group commit.
   */
  List<R> joinLate() {
    List<R> group = current;
    if (!groupCommit || group == null) {
      return List.of();
    }
    long chars = 0;
    for (R r : group) {
      chars += r.chars();
    }
    return takeMore(group, chars);
  }

  /** Takes the lock for a read (a scan, a copy, a check for external changes). */
  void lock() {
    try {
      lock.lockInterruptibly();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new KVLogException(
          "interrupted while waiting to read "
              + store
              + " (a commit was in progress); nothing was returned and nothing was changed",
          e);
    }
  }

  /** Takes the lock, ignoring interrupts (to close). */
  void lockUninterruptibly() {
    lock.lock();
  }

  /** Takes the lock if no one holds it (a background check that a write in progress makes moot). */
  boolean tryLock() {
    return lock.tryLock();
  }

  /** Releases the lock and wakes a queued writer, which might have missed its chance to lead. */
  void unlock() {
    lock.unlock();
    wakeNextLeader();
  }

  /**
   * A queued write: its waiting thread and, once done, its result or error. Written by the leader
   * under the lock, read by the waiter after it saw {@link #done}.
   *
   * @param <T> the type of the result
   */
  abstract static class Request<T> {
    final Thread waiter = Thread.currentThread();

    /** The text this request writes, in chars, for {@link #MAX_GROUP_CHARS}; 0 if negligible. */
    long chars() {
      return 0;
    }

    private T result;
    private RuntimeException error;
    private volatile boolean done;

    /** Records the result; the leader wakes the waiter once it released the lock. */
    final void complete(T value) {
      result = value;
      done = true;
    }

    final void fail(RuntimeException e) {
      error = e;
      done = true;
    }

    final boolean isDone() {
      return done;
    }

    /** The result, or the error thrown. Only once {@link GroupCommitter#submit} returned. */
    final T result() {
      if (error != null) {
        throw error;
      }
      return result;
    }
  }
}
