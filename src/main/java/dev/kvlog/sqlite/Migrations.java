package dev.kvlog.sqlite;

import dev.kvlog.SchemaException;
import dev.kvlog.internal.SchemaScripts;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Applies the versioned scripts of {@code sql/sqlite/} (shipped on the classpath) and records each
 * in {@code kvlog_schema}. Each script runs in one transaction together with its record, so a crash
 * or a failing statement leaves the previous version intact. A store whose recorded version is
 * newer than this build knows is refused, never downgraded; a Flyway-managed store is left to
 * Flyway ({@link SchemaScripts} tells how). PostgreSQL has its own, {@code PgMigrations}.
 *
 * <p>Thread-safe (stateless; the caller serialises use of a connection).
 */
public final class Migrations {
  /** The scripts this build knows, in order; the test suite checks this against {@code sql/}. */
  public static final List<String> SQLITE_SCRIPTS = List.of("V1__create_kv.sql");

  private static final String DIRECTORY = "sql/sqlite/";

  private Migrations() {}

  /** The newest schema version this build knows. */
  public static int latestVersion() {
    return version(SQLITE_SCRIPTS.get(SQLITE_SCRIPTS.size() - 1));
  }

  /**
   * The installed schema version: the highest of {@code kvlog_schema}'s and Flyway's; 0 for an
   * empty database.
   */
  public static int currentVersion(Connection c) throws SQLException {
    try {
      return installed(c).version();
    } catch (SchemaScripts.Problem p) {
      throw schemaError(p);
    }
  }

  private static SchemaScripts.Installed installed(Connection c)
      throws SQLException, SchemaScripts.Problem {
    return SchemaScripts.installed(
        c, "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = '%s'");
  }

  /**
   * Brings the schema of {@code c}'s database up to {@link #latestVersion()}.
   *
   * @return the version now installed
   * @throws SchemaException if the database is newer than this build, or a script failed
   */
  public static int migrate(Connection c, Path database) {
    List<Script> scripts = new ArrayList<>();
    for (String name : SQLITE_SCRIPTS) {
      try {
        scripts.add(new Script(name, SchemaScripts.read(DIRECTORY + name)));
      } catch (SchemaScripts.Problem p) {
        throw schemaError(p);
      }
    }
    return migrate(c, database, scripts);
  }

  /** A versioned script: {@code V<n>__<description>.sql} and its SQL. */
  public record Script(String name, String sql) {}

  /** Applies {@code scripts} (in version order) above the installed version. */
  public static int migrate(Connection c, Path database, List<Script> scripts) {
    int latest = version(scripts.get(scripts.size() - 1).name());
    SchemaScripts.Installed installed;
    try {
      installed = installed(c);
    } catch (SchemaScripts.Problem p) {
      throw schemaError(p);
    } catch (SQLException e) {
      throw new SchemaException(
          "cannot read the schema version of " + database + ": " + e.getMessage(), e);
    }
    Optional<String> refusal =
        SchemaScripts.refusal(database.toString(), installed, latest, DIRECTORY);
    if (refusal.isPresent()) {
      throw new SchemaException(refusal.get());
    }
    int current = installed.version();
    for (Script script : scripts) {
      int version = version(script.name());
      if (version > current) {
        apply(c, database, script.name(), script.sql(), version);
        current = version;
      }
    }
    return current;
  }

  /** A store whose schema is newer than this build is refused, never downgraded. */
  static void refuseNewer(String where, int current, int latest) {
    String newer = SchemaScripts.newer(where, current, latest);
    if (newer != null) {
      throw new SchemaException(newer);
    }
  }

  private static void apply(Connection c, Path database, String script, String sql, int version) {
    try {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.executeUpdate(sql); // sqlite-jdbc runs every statement of a script through sqlite3_exec
      }
      SchemaScripts.record(c, script, version);
      c.commit();
    } catch (SQLException e) {
      try {
        c.rollback();
      } catch (SQLException rollback) {
        e.addSuppressed(rollback);
      }
      throw new SchemaException(
          "migration "
              + DIRECTORY
              + script
              + " failed on "
              + database
              + " and was rolled back: "
              + e.getMessage(),
          e);
    } finally {
      try {
        c.setAutoCommit(true);
      } catch (SQLException ignored) {
        // only fails on a closed connection, which the caller will discover
      }
    }
  }

  /** 3 for "V3__add_index.sql". */
  private static int version(String script) {
    try {
      return SchemaScripts.version(script);
    } catch (SchemaScripts.Problem p) {
      throw schemaError(p);
    }
  }

  private static SchemaException schemaError(SchemaScripts.Problem p) {
    return new SchemaException(p.getMessage(), p.getCause());
  }
}
