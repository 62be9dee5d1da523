package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** The queue itself, without SQL: how a leader waits for company (see GroupCommitter's javadoc). */
class GroupCommitterTest {
  static final class Req extends GroupCommitter.Request<Void> {}

  @Test
  void leaderYieldsABoundedNumberOfTimes_andALoneWriterNever() throws Exception {
    CountDownLatch firstCommitRuns = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    AtomicBoolean blockOnce = new AtomicBoolean(true);
    GroupCommitter<Req> committer =
        new GroupCommitter<>(
            "test",
            true,
            group -> {
              if (blockOnce.compareAndSet(true, false)) {
                firstCommitRuns.countDown();
                try {
                  release.await();
                } catch (InterruptedException e) {
                  throw new AssertionError(e);
                }
              }
              group.forEach(r -> r.complete(null));
            },
            (group, e) -> group.forEach(r -> r.fail(new RuntimeException(e))));

    // A leader whose group was itself yields nothing.
    Thread a = new Thread(() -> committer.submit(new Req()));
    a.start();
    firstCommitRuns.await();
    // Meanwhile two writers queue behind it; they will form the next group, of 2.
    Thread b = new Thread(() -> committer.submit(new Req()));
    Thread c = new Thread(() -> committer.submit(new Req()));
    b.start();
    awaitParked(b);
    c.start();
    awaitParked(c);
    release.countDown();
    for (Thread t : List.of(a, b, c)) {
      t.join();
    }
    assertThat(committer.yieldsForTests()).as("leaders with company already queued").isZero();

    // Alone after a group of 2: waits for company a bounded number of times, then commits alone.
    committer.submit(new Req());
    assertThat(committer.yieldsForTests()).isEqualTo(GroupCommitter.MAX_YIELDS);

    // Its group was itself: the next lone writer yields nothing.
    for (int i = 0; i < 10; i++) {
      committer.submit(new Req());
    }
    assertThat(committer.yieldsForTests()).isEqualTo(GroupCommitter.MAX_YIELDS);
  }

  /** Waits until {@code t} parks in the committer. */
  static void awaitParked(Thread t) throws InterruptedException {
    for (int i = 0; i < 30_000; i++) {
      if (t.getState() == Thread.State.WAITING) {
        return;
      }
      Thread.sleep(1);
    }
    throw new AssertionError(t + " never parked");
  }
}
