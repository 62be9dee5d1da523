package dev.kvlog;

/**
 * A stored key or value cannot be read: its text is not what the codec (or UTF-8) accepts, usually
 * because another tool edited the row or the value type changed since it was written. The message
 * names the key and says how to repair the row. Nothing was changed by the call that threw it.
 *
 * <p>Not thread-safe to mutate (as any exception); safe to share once thrown.
 */
public class CorruptValueException extends KVLogException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with a message and the failure underneath (a {@link java.sql.SQLException}, say).
   *
   * @param message the detail message
   * @param cause the failure that led to this one
   */
  public CorruptValueException(String message, Throwable cause) {
    super(message, cause);
  }
}
