package dev.kvlog;

/**
 * A write did not complete normally. Two independent questions tell a caller what to do:
 *
 * <ul>
 *   <li>{@link #outcomeUnknown()}: may the write have been applied? False means it was not: the
 *       table and every cache are as they were, and retrying is safe. True means it may or may not
 *       have been applied (for example the connection was lost after COMMIT was sent, or SQLite
 *       reported an I/O error during the commit): re-read the key before deciding to retry, since a
 *       retried compare-and-set or {@code setIfAbsent} would report the first attempt's success as
 *       a failure.
 *   <li>{@link #storeFailed()}: does the store refuse further writes until it is closed and
 *       reopened? Reads keep working.
 * </ul>
 *
 * <p>Not thread-safe to mutate (as any exception); safe to share once thrown.
 */
public class WriteFailedException extends KVLogException {
  private static final long serialVersionUID = 1L;

  /** Whether the store refuses further writes until reopened; see {@link #storeFailed()}. */
  private final boolean storeFailed;

  /** Whether the write may have been applied; see {@link #outcomeUnknown()}. */
  private final boolean outcomeUnknown;

  /**
   * A failed write, with the answers to both questions.
   *
   * @param message what failed, naming the key or batch and what to do
   * @param cause the failure underneath (a {@link java.sql.SQLException}, say)
   * @param storeFailed the store refuses further writes until reopened
   * @param outcomeUnknown the write may have been applied
   */
  public WriteFailedException(
      String message, Throwable cause, boolean storeFailed, boolean outcomeUnknown) {
    super(message, cause);
    this.storeFailed = storeFailed;
    this.outcomeUnknown = outcomeUnknown;
  }

  /**
   * Same as {@code WriteFailedException(message, cause, storeFailed, storeFailed)}: a failure that
   * stops the store is, unless said otherwise, one whose outcome is unknown.
   *
   * @param message what failed, naming the key or batch and what to do
   * @param cause the failure underneath (a {@link java.sql.SQLException}, say)
   * @param storeFailed the store refuses further writes until reopened (and the outcome is then
   *     unknown)
   */
  public WriteFailedException(String message, Throwable cause, boolean storeFailed) {
    this(message, cause, storeFailed, storeFailed);
  }

  /**
   * True when the store refuses further writes until it is closed and reopened, which reloads the
   * cache from what the log actually holds. Reads keep working.
   *
   * @return whether the store refuses further writes until reopened
   */
  public boolean storeFailed() {
    return storeFailed;
  }

  /**
   * True when the write may or may not have been applied. Re-read before retrying. False means the
   * write was certainly not applied.
   *
   * @return whether the write may have been applied
   */
  public boolean outcomeUnknown() {
    return outcomeUnknown;
  }
}
