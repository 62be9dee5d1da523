package dev.kvlog;

/**
 * Another owner (a process, or another {@link KVLog} in this JVM) has the store open for writing.
 */
public class StoreLockedException extends StoreOpenException {
  private static final long serialVersionUID = 1L;

  public StoreLockedException(String message) {
    super(message);
  }

  public StoreLockedException(String message, Throwable cause) {
    super(message, cause);
  }
}
