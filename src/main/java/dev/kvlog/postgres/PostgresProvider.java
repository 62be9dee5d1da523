package dev.kvlog.postgres;

import dev.kvlog.internal.Secrets;
import dev.kvlog.spi.Backend;
import dev.kvlog.spi.BackendProvider;
import dev.kvlog.spi.Settings;
import java.util.Set;

/**
 * Opens {@code jdbc:postgresql:} stores: {@link PostgresBackend}. Loads no driver class until a
 * store is opened, so SQLite-only users need not have the PostgreSQL driver. Thread-safe.
 */
public final class PostgresProvider implements BackendProvider {
  /** The URL prefix of this backend. */
  public static final String PREFIX = "jdbc:postgresql:";

  /** Connections for writes and reloads unless {@code poolSize} says otherwise. */
  public static final int DEFAULT_POOL_SIZE = 8;

  @Override
  public String urlForm() {
    return PREFIX + "//host/database";
  }

  @Override
  public boolean accepts(String url) {
    return url.startsWith(PREFIX);
  }

  /**
   * Connects, checks the server's durability settings, applies pending migrations, starts the
   * change feed and loads the table into memory.
   */
  @Override
  public Backend open(String url, Settings settings) {
    settings.refuseAllBut("a " + PREFIX + " store", Set.of("poolSize"));
    if (!settings.properties().isEmpty()) {
      throw new IllegalArgumentException(
          "unknown PostgreSQL properties " + settings.properties().keySet());
    }
    if (Secrets.hasUserInfo(url)) {
      throw new IllegalArgumentException(
          Secrets.redact(url)
              + ": the PostgreSQL driver does not take user:password@ in the URL; give them as"
              + " parameters: jdbc:postgresql://host/database?user=USER&password=PASSWORD");
    }
    Integer poolSize = settings.poolSize();
    return new PostgresBackend(url, poolSize == null ? DEFAULT_POOL_SIZE : poolSize);
  }
}
