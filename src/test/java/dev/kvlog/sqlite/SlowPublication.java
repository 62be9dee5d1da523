package dev.kvlog.sqlite;

import java.util.concurrent.locks.LockSupport;

/**
 * Test access from other packages: makes every writer wait a little between a COMMIT and its
 * publication to the cache, through {@link SqliteWriter#afterCommitHookForTests}, so that stress
 * tests meet the window in which a commit is in the table but not yet in the cache far more often.
 * Global to the JVM: always {@link #close()} it (try-with-resources).
 */
public final class SlowPublication implements AutoCloseable {
  private SlowPublication() {}

  /**
   * Every commit from now on waits {@code micros} before it is published.
   *
   * @param micros the wait after each COMMIT
   * @return the handle that removes the wait
   */
  public static SlowPublication afterEachCommit(long micros) {
    SqliteWriter.afterCommitHookForTests = path -> LockSupport.parkNanos(micros * 1000);
    return new SlowPublication();
  }

  @Override
  public void close() {
    SqliteWriter.afterCommitHookForTests = null;
  }
}
