package dev.kvlog;

/**
 * The store could not be opened: a bad path, a file that is not a KVLog store, missing permissions,
 * or a configuration that SQLite did not accept.
 *
 * <p>Not thread-safe to mutate (as any exception); safe to share once thrown.
 */
public class StoreOpenException extends KVLogException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with a message that says what failed and what to do.
   *
   * @param message the detail message
   */
  public StoreOpenException(String message) {
    super(message);
  }

  /**
   * An exception with a message and the failure underneath (a {@link java.sql.SQLException}, say).
   *
   * @param message the detail message
   * @param cause the failure that led to this one
   */
  public StoreOpenException(String message, Throwable cause) {
    super(message, cause);
  }
}
