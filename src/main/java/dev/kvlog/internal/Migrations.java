package dev.kvlog.internal;

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
 * <p>The file names follow Flyway's {@code V<version>__<description>.sql}, so the same folders can
 * be handed to Flyway or any tool of that convention (KVLog's own table is {@code kvlog_schema},
 * not Flyway's history table).
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
      int current;
      try (Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT to_regclass('kvlog_schema') IS NOT NULL")) {
        rs.next();
        current = 0;
        if (rs.getBoolean(1)) {
          try (ResultSet v = s.executeQuery("SELECT coalesce(max(version), 0) FROM kvlog_schema")) {
            v.next();
            current = v.getInt(1);
          }
        }
      }
      refuseNewer(where, current, version(POSTGRESQL_SCRIPTS.get(POSTGRESQL_SCRIPTS.size() - 1)));
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

  /** The version recorded in the database; 0 for an empty database. */
  public static int currentVersion(Connection c) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'kvlog_schema'")) {
      rs.next();
      if (rs.getInt(1) == 0) {
        return 0;
      }
    }
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT coalesce(max(version), 0) FROM kvlog_schema")) {
      rs.next();
      return rs.getInt(1);
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
    int current;
    try {
      current = currentVersion(c);
    } catch (SQLException e) {
      throw new SchemaException(
          "cannot read the schema version of " + database + ": " + e.getMessage(), e);
    }
    refuseNewer(database.toString(), current, latest);
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
