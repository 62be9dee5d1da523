package dev.kvlog.sqlite;

import dev.kvlog.SchemaException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

/**
 * Applies the versioned scripts of {@code sql/sqlite/} or {@code sql/postgresql/} (shipped on the
 * classpath) and records each in {@code kvlog_schema}. Each script runs in one transaction together
 * with its record, so a crash or a failing statement leaves the previous version intact. A store
 * whose recorded version is newer than this build knows is refused, never downgraded.
 *
 * <p><b>Flyway.</b> The file names follow Flyway's {@code V<version>__<description>.sql}, so the
 * same folders can be handed to Flyway. Whoever applied a store's first version keeps its
 * migrations: a store with a {@code flyway_schema_history} table (Flyway created its schema, or
 * took the store over with {@code baseline}) is Flyway's. Its version is the highest of Flyway's
 * successful versions and {@code kvlog_schema}'s; KVLog opens it when that is the version it needs
 * and otherwise refuses, telling the user to run Flyway, and never applies a script itself, so
 * Flyway's history always lists every script applied. Only Flyway's default history table name is
 * recognised.
 */
public final class Migrations {
  /** The scripts this build knows, in order; the test suite checks this against {@code sql/}. */
  public static final List<String> SQLITE_SCRIPTS = List.of("V1__create_kv.sql");

  /** The same for PostgreSQL. */
  public static final List<String> POSTGRESQL_SCRIPTS =
      List.of("V1__create_kv.sql", "V2__versions_and_tombstones.sql");

  private static final String DIRECTORY = "sql/sqlite/";
  private static final String PG_DIRECTORY = "sql/postgresql/";

  /**
   * Brings a PostgreSQL store's schema up to date: the whole check-and-apply runs in one
   * transaction under a transaction-scoped advisory lock, so instances that start together apply
   * each script once.
   */
  public static int migratePostgres(Connection c, String where) {
    try {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.execute("SELECT pg_advisory_xact_lock(" + Database.APPLICATION_ID + ")");
      }
      Installed installed =
          installed(
              c,
              has(c, "SELECT to_regclass('kvlog_schema') IS NOT NULL"),
              has(c, "SELECT to_regclass('" + FLYWAY_HISTORY + "') IS NOT NULL"));
      int current = installed.version();
      int latest = version(POSTGRESQL_SCRIPTS.get(POSTGRESQL_SCRIPTS.size() - 1));
      refuseNewer(where, current, latest);
      refuseIfFlywayBehind(where, installed, latest, PG_DIRECTORY);
      for (String name : POSTGRESQL_SCRIPTS) {
        int version = version(name);
        if (version > current) {
          try (Statement s = c.createStatement()) {
            s.execute(read(PG_DIRECTORY + name));
          }
          record(c, name, version);
          current = version;
        }
      }
      c.commit();
      return current;
    } catch (SQLException | RuntimeException e) {
      try {
        c.rollback();
      } catch (SQLException rollback) {
        e.addSuppressed(rollback);
      }
      if (e instanceof SchemaException) {
        throw (SchemaException) e;
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

  private Migrations() {}

  /** The newest schema version this build knows. */
  public static int latestVersion() {
    return version(SQLITE_SCRIPTS.get(SQLITE_SCRIPTS.size() - 1));
  }

  /** Flyway's default history table: its presence means Flyway manages the store's schema. */
  static final String FLYWAY_HISTORY = "flyway_schema_history";

  /**
   * The installed schema version: the highest of {@code kvlog_schema}'s and Flyway's; 0 for an
   * empty database.
   */
  public static int currentVersion(Connection c) throws SQLException {
    return installedSqlite(c).version();
  }

  /** The same for a PostgreSQL store, in the connection's current schema; reads only. */
  public static int currentVersionPostgres(Connection c) throws SQLException {
    return installed(
            c,
            has(c, "SELECT to_regclass('kvlog_schema') IS NOT NULL"),
            has(c, "SELECT to_regclass('" + FLYWAY_HISTORY + "') IS NOT NULL"))
        .version();
  }

  /** What a database says about its schema version, and whether Flyway manages it. */
  record Installed(int version, boolean byFlyway) {}

  private static Installed installedSqlite(Connection c) throws SQLException {
    String exists = "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = '%s'";
    return installed(
        c,
        has(c, String.format(exists, "kvlog_schema")),
        has(c, String.format(exists, FLYWAY_HISTORY)));
  }

  private static boolean has(Connection c, String query) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(query)) {
      rs.next();
      return rs.getBoolean(1);
    }
  }

  private static Installed installed(Connection c, boolean kvlogTable, boolean flywayTable)
      throws SQLException {
    int version = 0;
    if (kvlogTable) {
      try (Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT coalesce(max(version), 0) FROM kvlog_schema")) {
        rs.next();
        version = rs.getInt(1);
      }
    }
    if (flywayTable) {
      // Flyway keeps versions as text ("1", "1.1"); KVLog's are whole numbers.
      try (Statement s = c.createStatement();
          ResultSet rs =
              s.executeQuery(
                  "SELECT version FROM "
                      + FLYWAY_HISTORY
                      + " WHERE success AND version IS NOT NULL")) {
        while (rs.next()) {
          String text = rs.getString(1).trim();
          // Flyway ignores trailing zero parts: "1.0" and "1.0.0" are version 1.
          if (!text.matches("[0-9]{1,9}(\\.0+)*")) {
            throw new SchemaException(
                FLYWAY_HISTORY
                    + " records version "
                    + text
                    + ", which is not a KVLog schema version (KVLog's are whole numbers: V1, V2,"
                    + " ...); the store's schema was changed by migrations KVLog does not know");
          }
          int dot = text.indexOf('.');
          version = Math.max(version, Integer.parseInt(dot < 0 ? text : text.substring(0, dot)));
        }
      }
    }
    return new Installed(version, flywayTable);
  }

  /**
   * A Flyway-managed store below the version this build needs is refused: applying the scripts here
   * would leave them out of Flyway's history, and Flyway would later try to apply them again.
   */
  private static void refuseIfFlywayBehind(
      String where, Installed installed, int latest, String directory) {
    if (installed.byFlyway() && installed.version() < latest) {
      throw new SchemaException(
          where
              + " has schema version "
              + installed.version()
              + " and is managed by Flyway ("
              + FLYWAY_HISTORY
              + "), but this KVLog build needs version "
              + latest
              + "; run flyway migrate with the scripts of "
              + directory
              + " (KVLog leaves a Flyway-managed schema to Flyway; the store was not changed)");
    }
  }

  /**
   * Brings the schema of {@code c}'s database up to {@link #latestVersion()}.
   *
   * @return the version now installed
   * @throws SchemaException if the database is newer than this build, or a script failed
   */
  public static int migrate(Connection c, Path database) {
    List<Script> scripts = new java.util.ArrayList<>();
    for (String name : SQLITE_SCRIPTS) {
      scripts.add(new Script(name, read(DIRECTORY + name)));
    }
    return migrate(c, database, scripts);
  }

  /** A versioned script: {@code V<n>__<description>.sql} and its SQL. */
  public record Script(String name, String sql) {}

  /** Applies {@code scripts} (in version order) above the installed version. */
  public static int migrate(Connection c, Path database, List<Script> scripts) {
    int latest = version(scripts.get(scripts.size() - 1).name());
    Installed installed;
    try {
      installed = installedSqlite(c);
    } catch (SQLException e) {
      throw new SchemaException(
          "cannot read the schema version of " + database + ": " + e.getMessage(), e);
    }
    int current = installed.version();
    refuseNewer(database.toString(), current, latest);
    refuseIfFlywayBehind(database.toString(), installed, latest, DIRECTORY);
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
    if (current > latest) {
      throw new SchemaException(
          where
              + " has schema version "
              + current
              + ", but this KVLog build knows versions up to "
              + latest
              + "; upgrade KVLog to open it (the store was not changed)");
    }
  }

  /** Records {@code script} as installed, in the caller's transaction. */
  private static void record(Connection c, String script, int version) throws SQLException {
    try (PreparedStatement record =
        c.prepareStatement("INSERT INTO kvlog_schema(version, description) VALUES (?, ?)")) {
      record.setInt(1, version);
      record.setString(2, description(script));
      record.executeUpdate();
    }
  }

  private static void apply(Connection c, Path database, String script, String sql, int version) {
    try {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.executeUpdate(sql); // sqlite-jdbc runs every statement of a script through sqlite3_exec
      }
      record(c, script, version);
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

  private static String read(String resource) {
    try (InputStream in = Migrations.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new SchemaException(
            resource + " is missing from the classpath; the KVLog jar is incomplete");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new SchemaException("cannot read " + resource + ": " + e, e);
    }
  }

  /** 3 for "V3__add_index.sql". */
  static int version(String script) {
    if (!script.matches("V[0-9]{1,9}__[A-Za-z0-9_]+\\.sql")) {
      throw new SchemaException(
          "migration script name " + script + " is not V<version>__<description>.sql");
    }
    return Integer.parseInt(script.substring(1, script.indexOf("__")));
  }

  /** "add index" for "V3__add_index.sql". */
  static String description(String script) {
    return script
        .substring(script.indexOf("__") + 2, script.length() - ".sql".length())
        .replace('_', ' ');
  }
}
