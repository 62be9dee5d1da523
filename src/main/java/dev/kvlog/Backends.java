package dev.kvlog;

import dev.kvlog.internal.Secrets;
import dev.kvlog.spi.Backend;
import dev.kvlog.spi.BackendProvider;
import dev.kvlog.spi.Settings;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/**
 * The registry of backends: every {@link BackendProvider} that {@link ServiceLoader} finds, asked
 * in turn whether it accepts a URL. Thread-safe (the list is built once).
 */
final class Backends {
  /** The embedded default's URL prefix, used by the {@code Path} factories. */
  static final String SQLITE_PREFIX = "jdbc:sqlite:";

  private static final List<BackendProvider> PROVIDERS = load();

  private Backends() {}

  private static List<BackendProvider> load() {
    List<BackendProvider> found = new ArrayList<>();
    ServiceLoader.load(BackendProvider.class, Backends.class.getClassLoader()).forEach(found::add);
    return List.copyOf(found);
  }

  static Backend open(String url, Settings settings) {
    return provider(url).open(url, settings);
  }

  /**
   * The provider that accepts {@code url}.
   *
   * @throws IllegalArgumentException naming the URL forms that are accepted
   */
  static BackendProvider provider(String url) {
    for (BackendProvider p : PROVIDERS) {
      if (p.accepts(url)) {
        return p;
      }
    }
    List<String> forms = new ArrayList<>();
    PROVIDERS.forEach(p -> forms.add(p.urlForm()));
    throw new IllegalArgumentException(
        "unsupported JDBC URL "
            + Secrets.redact(url)
            + "; use "
            + (forms.isEmpty()
                ? "a URL of an installed backend (none found)"
                : String.join(" or ", forms)));
  }
}
