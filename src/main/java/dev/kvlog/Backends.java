package dev.kvlog;

import dev.kvlog.internal.Secrets;
import dev.kvlog.spi.Backend;
import dev.kvlog.spi.BackendProvider;
import dev.kvlog.spi.Settings;
import java.nio.file.Path;
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

  /**
   * The {@code jdbc:sqlite:} URL that names {@code file} literally, whatever its name holds: the
   * plain form where the SQLite backend reads it back as this very path; otherwise the absolute
   * path (so that {@code file:x} or {@code :memory:} is not read as a URI or an in-memory
   * database), as a {@code file:} URI with '%' and '?' escaped if it holds them.
   */
  static String sqliteUrl(Path file) {
    String name = file.toString();
    if (plainSqliteName(name)) {
      return SQLITE_PREFIX + name;
    }
    String absolute = file.toAbsolutePath().toString();
    return plainSqliteName(absolute)
        ? SQLITE_PREFIX + absolute
        : SQLITE_PREFIX + "file:" + absolute.replace("%", "%25").replace("?", "%3F");
  }

  private static boolean plainSqliteName(String name) {
    return !name.isEmpty()
        && !name.equals(":memory:")
        && !name.startsWith("file:")
        && name.indexOf('?') < 0
        && name.indexOf('%') < 0;
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
