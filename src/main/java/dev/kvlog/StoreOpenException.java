package dev.kvlog;

/**
 * The store could not be opened: a bad path, a file that is not a KVLog store, missing permissions,
 * or a configuration that SQLite did not accept.
 */
public class StoreOpenException extends KVLogException {
  private static final long serialVersionUID = 1L;

  public StoreOpenException(String message) {
    super(message);
  }

  public StoreOpenException(String message, Throwable cause) {
    super(message, cause);
  }
}
