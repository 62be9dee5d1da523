package dev.kvlog;

/** The store was used after {@link KVStore#close()}. */
public class StoreClosedException extends KVLogException {
  private static final long serialVersionUID = 1L;

  public StoreClosedException(String message) {
    super(message);
  }

  public StoreClosedException(String message, Throwable cause) {
    super(message, cause);
  }
}
