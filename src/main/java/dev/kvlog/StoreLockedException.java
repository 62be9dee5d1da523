package dev.kvlog;

/**
 * Another owner (a process, or another {@link KVLog} in this JVM) has the store open for writing.
 *
 * <p>Not thread-safe to mutate (as any exception); safe to share once thrown.
 */
public class StoreLockedException extends StoreOpenException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with a message that says what failed and what to do.
   *
   * @param message the detail message
   */
  public StoreLockedException(String message) {
    super(message);
  }

  /**
   * An exception with a message and the failure underneath (a {@link java.sql.SQLException}, say).
   *
   * @param message the detail message
   * @param cause the failure that led to this one
   */
  public StoreLockedException(String message, Throwable cause) {
    super(message, cause);
  }
}
