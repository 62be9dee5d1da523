package dev.kvlog;

/**
 * The store's schema cannot be used by this build: it is newer than the build knows, or a migration
 * failed (and was rolled back).
 */
public class SchemaException extends KVLogException {
  private static final long serialVersionUID = 1L;

  public SchemaException(String message) {
    super(message);
  }

  public SchemaException(String message, Throwable cause) {
    super(message, cause);
  }
}
