package dev.kvlog.spi;

import java.util.List;

/**
 * Opens {@link Backend}s for the JDBC URLs it accepts. Providers are found with {@link
 * java.util.ServiceLoader} ({@code provides dev.kvlog.spi.BackendProvider} in a module, or {@code
 * META-INF/services/dev.kvlog.spi.BackendProvider} on the class path); the first that {@link
 * #accepts} a URL opens it. A provider must be cheap to create and must not load optional
 * dependencies (a JDBC driver, say) before {@link #open}. Implementations are thread-safe.
 */
public interface BackendProvider {

  /**
   * The URL form this provider accepts, for messages: {@code "jdbc:sqlite:<file>"}.
   *
   * @return the form, with placeholders in angle brackets or words
   */
  String urlForm();

  /**
   * Whether this provider opens {@code url}.
   *
   * @param url a JDBC URL
   * @return true if {@link #open} takes it (usually: it starts with this backend's prefix)
   */
  boolean accepts(String url);

  /**
   * Opens the store {@code url} names: checks it, takes whatever ownership the backend needs,
   * applies pending migrations and loads the cache. A backend that fails to open leaves nothing
   * behind (no connection, no thread, no lock, no file it created).
   *
   * @param url a URL this provider {@link #accepts}
   * @param settings the options the user set; null components take the backend's defaults
   * @return the open backend; the facade closes it
   * @throws IllegalArgumentException if {@code settings} holds an option this backend does not use
   * @throws RuntimeException from the {@code dev.kvlog.KVLogException} family if the store cannot
   *     be opened ({@code StoreOpenException}, {@code StoreLockedException}, {@code
   *     SchemaException}); messages never contain a password from the URL
   */
  Backend open(String url, Settings settings);

  /**
   * Checks the integrity of the store {@code url} names without opening it for writing, so a
   * damaged store can be examined; changes nothing.
   *
   * @param url a URL this provider {@link #accepts}
   * @return the problems found, empty if the store is sound
   * @throws UnsupportedOperationException if this backend has no such check
   */
  default List<String> check(String url) {
    throw new UnsupportedOperationException(urlForm() + " stores have no offline integrity check");
  }
}
