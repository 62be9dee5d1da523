package dev.kvlog.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Optional;

/**
 * The backend-free parts of schema migrations, shared by each backend's own migrations class:
 * reading the {@code sql/} scripts from the class path, parsing their Flyway-style names {@code
 * V<version>__<description>.sql}, reading the installed version from {@code kvlog_schema} and
 * Flyway's history, recording a script, and deciding whether a store must be refused.
 *
 * <p>JDK-only and free of {@code dev.kvlog}: what is wrong is returned as a message, or thrown as a
 * {@link Problem}, and each backend turns it into its {@code SchemaException}.
 *
 * <p><b>Flyway.</b> The scripts' names follow Flyway's, so the same folders can be handed to
 * Flyway. Whoever applied a store's first version keeps its migrations: a store with a {@value
 * #FLYWAY_HISTORY} table (Flyway created its schema, or took the store over with {@code baseline})
 * is Flyway's. Its version is the highest of Flyway's successful versions and {@code
 * kvlog_schema}'s; KVLog opens it when that is the version it needs and otherwise refuses, telling
 * the user to run Flyway, and never applies a script itself, so Flyway's history always lists every
 * script applied. Only Flyway's default history table name is recognised.
 *
 * <p>Thread-safe (stateless).
 */
public final class SchemaScripts {
  /** Flyway's default history table: its presence means Flyway manages the store's schema. */
  public static final String FLYWAY_HISTORY = "flyway_schema_history";

  private SchemaScripts() {}

  /** Something about the scripts or the recorded schema that makes a store unusable. */
  public static final class Problem extends Exception {
    private static final long serialVersionUID = 1L;

    Problem(String message) {
      super(message);
    }

    Problem(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** What a database says about its schema version, and whether Flyway manages it. */
  public record Installed(int version, boolean byFlyway) {}

  /**
   * The text of a script shipped on the class path, such as {@code sql/sqlite/V1__create_kv.sql}.
   */
  public static String read(String resource) throws Problem {
    try (InputStream in = SchemaScripts.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new Problem(resource + " is missing from the classpath; the KVLog jar is incomplete");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new Problem("cannot read " + resource + ": " + e, e);
    }
  }

  /** 3 for "V3__add_index.sql". */
  public static int version(String script) throws Problem {
    if (!script.matches("V[0-9]{1,9}__[A-Za-z0-9_]+\\.sql")) {
      throw new Problem(
          "migration script name " + script + " is not V<version>__<description>.sql");
    }
    return Integer.parseInt(script.substring(1, script.indexOf("__")));
  }

  /** "add index" for "V3__add_index.sql". */
  public static String description(String script) {
    return script
        .substring(script.indexOf("__") + 2, script.length() - ".sql".length())
        .replace('_', ' ');
  }

  /**
   * The installed schema version: the highest of {@code kvlog_schema}'s and Flyway's; 0 for an
   * empty database.
   *
   * @param tableExists a query, with {@code %s} for a table's name, whose one row and column says
   *     whether that table exists (how to ask differs by database)
   * @throws Problem if Flyway's history records a version that is not a whole number
   */
  public static Installed installed(Connection c, String tableExists) throws SQLException, Problem {
    boolean kvlogTable = ask(c, String.format(tableExists, "kvlog_schema"));
    boolean flywayTable = ask(c, String.format(tableExists, FLYWAY_HISTORY));
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
            throw new Problem(
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

  private static boolean ask(Connection c, String query) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(query)) {
      rs.next();
      return rs.getBoolean(1);
    }
  }

  /**
   * Why a store with this installed schema cannot be migrated to {@code latest} by this build, or
   * empty if it can: one newer than this build is refused, never downgraded; a Flyway-managed one
   * below {@code latest} is left to Flyway, since applying the scripts here would leave them out of
   * Flyway's history and Flyway would later try to apply them again.
   *
   * @param directory the scripts' folder, for the advice to run Flyway with them
   */
  public static Optional<String> refusal(
      String where, Installed installed, int latest, String directory) {
    String newer = newer(where, installed.version(), latest);
    if (newer != null) {
      return Optional.of(newer);
    }
    if (installed.byFlyway() && installed.version() < latest) {
      return Optional.of(
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
    return Optional.empty();
  }

  /** Why a store of schema {@code current} is too new for this build, or null if it is not. */
  public static String newer(String where, int current, int latest) {
    if (current <= latest) {
      return null;
    }
    return where
        + " has schema version "
        + current
        + ", but this KVLog build knows versions up to "
        + latest
        + "; upgrade KVLog to open it (the store was not changed)";
  }

  /** Records {@code script} as installed, in the caller's transaction. */
  public static void record(Connection c, String script, int version) throws SQLException {
    try (PreparedStatement record =
        c.prepareStatement("INSERT INTO kvlog_schema(version, description) VALUES (?, ?)")) {
      record.setInt(1, version);
      record.setString(2, description(script));
      record.executeUpdate();
    }
  }
}
