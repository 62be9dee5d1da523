package dev.kvlog;

/**
 * The root of every failure KVLog reports. Unchecked; the subclasses say which step failed:
 *
 * <ul>
 *   <li>{@link StoreOpenException} - the store could not be opened (path, file type, permissions);
 *       {@link StoreLockedException} when another owner has it open.
 *   <li>{@link SchemaException} - the schema is newer than this build, or a migration failed.
 *   <li>{@link WriteFailedException} - the log could not commit a write; nothing changed.
 *   <li>{@link StoreClosedException} - the store was used after {@code close()}.
 * </ul>
 *
 * <p>When a JDBC call failed, the {@link java.sql.SQLException} is the cause.
 *
 * <p>Not thread-safe to mutate (as any exception); safe to share once thrown.
 */
public class KVLogException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /**
   * An exception with a message that says what failed and what to do.
   *
   * @param message the detail message
   */
  public KVLogException(String message) {
    super(message);
  }

  /**
   * An exception with a message and the failure underneath (a {@link java.sql.SQLException}, say).
   *
   * @param message the detail message
   * @param cause the failure that led to this one
   */
  public KVLogException(String message, Throwable cause) {
    super(message, cause);
  }
}
