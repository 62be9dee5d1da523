package dev.kvlog;

/**
 * The log could not commit a write, for example because the disk is full ({@code SQLITE_FULL}) or
 * another process held SQLite's write lock for longer than the busy timeout. The write did not
 * happen: the cache and the database are as they were, and the store stays usable unless {@link
 * #storeFailed()} says otherwise.
 */
public class WriteFailedException extends KVLogException {
  private static final long serialVersionUID = 1L;

  private final boolean storeFailed;

  public WriteFailedException(String message, Throwable cause, boolean storeFailed) {
    super(message, cause);
    this.storeFailed = storeFailed;
  }

  /**
   * True when the failure left the outcome of the write unknown (an I/O error or corruption
   * reported by SQLite). The store then refuses further writes until it is closed and reopened,
   * which reloads the cache from what the log actually holds. Reads keep working.
   */
  public boolean storeFailed() {
    return storeFailed;
  }
}
