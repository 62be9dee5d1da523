package dev.kvlog;

import dev.kvlog.internal.Secrets;
import dev.kvlog.spi.Backend;
import dev.kvlog.spi.BackendProvider;
import dev.kvlog.spi.Settings;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/**
 * The registry of backends: every {@link BackendProvider} that {@link ServiceLoader} finds, asked
 * in turn whether it accepts a URL. A third-party provider that fails (cannot be loaded or created,
 * throws from {@code accepts}, opens a store as null) is skipped and named in messages, never
 * allowed to disable the other backends: one bad jar on the class path used to fail this class's
 * initialisation, and with it every store. Thread-safe (the lists are built once).
 */
final class Backends {
  /** The embedded default's URL prefix, used by the {@code Path} factories. */
  static final String SQLITE_PREFIX = "jdbc:sqlite:";

  /** More consecutive failures than this and the service iterator is taken to be stuck. */
  private static final int MAX_LOAD_FAILURES = 100;

  private static final Backends INSTALLED = new Backends(Backends.class.getClassLoader());

  private final List<BackendProvider> providers;

  /** Why each provider that could not be loaded or created was skipped. */
  private final List<String> failedToLoad;

  /** The providers {@code loader} lists (tests give a loader of their own). */
  Backends(ClassLoader loader) {
    List<BackendProvider> found = new ArrayList<>();
    List<String> failed = new ArrayList<>();
    Iterator<BackendProvider> it = ServiceLoader.load(BackendProvider.class, loader).iterator();
    // One at a time: the iterator moves past a provider that fails and goes on with the next.
    for (int failures = 0; failures <= MAX_LOAD_FAILURES; ) {
      try {
        if (!it.hasNext()) {
          break;
        }
        found.add(it.next());
        failures = 0;
      } catch (ServiceConfigurationError | LinkageError e) {
        failures++;
        failed.add(describe(e));
      }
    }
    providers = List.copyOf(found);
    failedToLoad = List.copyOf(failed);
  }

  /** The error and its causes (a few at most: a chain may loop), in one line. */
  private static String describe(Throwable e) {
    StringBuilder why = new StringBuilder(String.valueOf(e.getMessage()));
    Throwable c = e.getCause();
    for (int depth = 0; c != null && depth < 4; depth++, c = c.getCause()) {
      why.append(": ").append(c);
    }
    return why.toString();
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
    return INSTALLED.openWith(url, settings);
  }

  static BackendProvider provider(String url) {
    return INSTALLED.providerFor(url);
  }

  /**
   * Opens {@code url} with the provider that accepts it.
   *
   * @throws StoreOpenException if the provider returned no backend
   */
  Backend openWith(String url, Settings settings) {
    BackendProvider provider = providerFor(url);
    Backend backend = provider.open(url, settings);
    if (backend == null) {
      throw new StoreOpenException(
          "backend provider "
              + provider.getClass().getName()
              + " returned no store for "
              + Secrets.redact(url)
              + "; it is broken: remove it from the class path or report it to its authors");
    }
    return backend;
  }

  /**
   * The provider that accepts {@code url}; a provider whose {@code accepts} throws is skipped.
   *
   * @throws IllegalArgumentException naming the URL forms that are accepted and the providers that
   *     failed
   */
  BackendProvider providerFor(String url) {
    List<String> failed = new ArrayList<>(failedToLoad);
    List<String> secrets = Secrets.of(url);
    for (BackendProvider p : providers) {
      try {
        if (p.accepts(url)) {
          return p;
        }
      } catch (RuntimeException | LinkageError e) {
        failed.add(
            p.getClass().getName()
                + " failed to read the URL: "
                + Secrets.redact(String.valueOf(e), secrets));
      }
    }
    List<String> forms = new ArrayList<>();
    for (BackendProvider p : providers) {
      try {
        forms.add(p.urlForm());
      } catch (RuntimeException | LinkageError e) {
        // a broken provider is named below with why it failed
      }
    }
    throw new IllegalArgumentException(
        "unsupported JDBC URL "
            + Secrets.redact(url)
            + "; use "
            + (forms.isEmpty()
                ? "a URL of an installed backend (none found)"
                : String.join(" or ", forms))
            + (failed.isEmpty()
                ? ""
                : " (backend providers skipped because they failed: "
                    + String.join("; ", failed)
                    + ")"));
  }
}
