package dev.kvlog;

/**
 * The store was used after {@link KVStore#close()}.
 *
 * <p>Not thread-safe to mutate (as any exception); safe to share once thrown.
 */
public class StoreClosedException extends KVLogException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with a message that says what failed and what to do.
   *
   * @param message the detail message
   */
  public StoreClosedException(String message) {
    super(message);
  }

  /**
   * An exception with a message and the failure underneath (a {@link java.sql.SQLException}, say).
   *
   * @param message the detail message
   * @param cause the failure that led to this one
   */
  public StoreClosedException(String message, Throwable cause) {
    super(message, cause);
  }
}
