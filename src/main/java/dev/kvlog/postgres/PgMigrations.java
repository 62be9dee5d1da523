package dev.kvlog.postgres;

import dev.kvlog.SchemaException;
import dev.kvlog.internal.SchemaScripts;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Optional;

/**
 * Applies the versioned scripts of {@code sql/postgresql/} (shipped on the classpath) to a store's
 * schema (the connection's current schema) and records each in {@code kvlog_schema}. The whole
 * check-and-apply runs in one transaction under a transaction-scoped advisory lock, so instances
 * that start together apply each script once, and a failing statement leaves the previous version
 * intact. A store whose recorded version is newer than this build knows is refused, never
 * downgraded; a Flyway-managed store is left to Flyway ({@link SchemaScripts} tells how).
 *
 * <p>Thread-safe (stateless).
 */
public final class PgMigrations {
  /**
   * The key of the advisory lock migrations hold: 0x4B564C47 ("KVLG"). Earlier builds borrowed
   * SQLite's application_id as this key; the number stays the same so that instances of an earlier
   * build and of this one, starting together on one store, still exclude each other.
   */
  static final long ADVISORY_LOCK_KEY = 0x4B564C47L;

  /** The scripts this build knows, in order; the test suite checks this against {@code sql/}. */
  public static final List<String> SCRIPTS =
      List.of("V1__create_kv.sql", "V2__versions_and_tombstones.sql");

  private static final String DIRECTORY = "sql/postgresql/";

  private PgMigrations() {}

  /** The newest schema version this build knows. */
  public static int latestVersion() {
    try {
      return SchemaScripts.version(SCRIPTS.get(SCRIPTS.size() - 1));
    } catch (SchemaScripts.Problem p) {
      throw schemaError(p);
    }
  }

  /**
   * Brings a PostgreSQL store's schema up to date.
   *
   * @param where the store's URL without secrets, for messages
   * @return the version now installed
   * @throws SchemaException if the store is newer than this build, is Flyway's and behind, or a
   *     script failed (then rolled back)
   */
  public static int migrate(Connection c, String where) {
    try {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.execute("SELECT pg_advisory_xact_lock(" + ADVISORY_LOCK_KEY + ")");
      }
      SchemaScripts.Installed installed = installed(c);
      int latest = latestVersion();
      Optional<String> refusal = SchemaScripts.refusal(where, installed, latest, DIRECTORY);
      if (refusal.isPresent()) {
        throw new SchemaException(refusal.get());
      }
      int current = installed.version();
      for (String name : SCRIPTS) {
        int version = SchemaScripts.version(name);
        if (version > current) {
          try (Statement s = c.createStatement()) {
            s.execute(SchemaScripts.read(DIRECTORY + name));
          }
          SchemaScripts.record(c, name, version);
          current = version;
        }
      }
      c.commit();
      return current;
    } catch (SQLException | SchemaScripts.Problem | RuntimeException e) {
      try {
        c.rollback();
      } catch (SQLException rollback) {
        e.addSuppressed(rollback);
      }
      if (e instanceof SchemaException) {
        throw (SchemaException) e;
      }
      if (e instanceof SchemaScripts.Problem) {
        throw schemaError((SchemaScripts.Problem) e);
      }
      throw new SchemaException(
          "migration of " + where + " failed and was rolled back: " + e.getMessage(), e);
    } finally {
      try {
        c.setAutoCommit(true);
      } catch (SQLException ignored) {
        // only fails on a closed connection, which the caller will discover
      }
    }
  }

  /** The installed version of the store in the connection's current schema; reads only. */
  public static int currentVersion(Connection c) throws SQLException {
    try {
      return installed(c).version();
    } catch (SchemaScripts.Problem p) {
      throw schemaError(p);
    }
  }

  private static SchemaScripts.Installed installed(Connection c)
      throws SQLException, SchemaScripts.Problem {
    return SchemaScripts.installed(c, "SELECT to_regclass('%s') IS NOT NULL");
  }

  private static SchemaException schemaError(SchemaScripts.Problem p) {
    return new SchemaException(p.getMessage(), p.getCause());
  }
}
