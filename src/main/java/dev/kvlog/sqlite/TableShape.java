package dev.kvlog.sqlite;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * The shape of the {@code kv} table that KVLog created (sql/sqlite/V1__create_kv.sql), and the
 * check that a table still has it. Stateless; thread-safe.
 *
 * <p>Invariant: KVLog writes only to a {@code kv} table of exactly that shape, with no trigger and
 * no unique index of its own. The cache mirrors the table row for row, and every write is decided
 * on the cache, so anything that makes SQLite store something other than what KVLog wrote (a
 * trigger rewriting values or ignoring rows with {@code RAISE(IGNORE)}), accept what KVLog never
 * writes (a NULL value, a value of another type without STRICT), or compare keys differently (a
 * collation) would make the cache, the prior values and compare-and-set lie. So other tools may
 * change the data at will, but not the schema: a store whose table differs is refused at open
 * ({@link Database#checkIsStore}, read-only, before anything writes), and when the schema changes
 * while open ({@code PRAGMA schema_version} moved) the {@link SqliteWriter} checks again (through
 * {@link ExternalChanges}) inside the write transaction and refuses writes, the table unchanged,
 * until it is repaired.
 */
final class TableShape {
  private TableShape() {}

  /** The table KVLog creates, as a repair statement can recreate it. */
  static final String CREATE =
      "CREATE TABLE kv(key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID";

  /** The words of KVLog's CREATE TABLE statement (also as sqlite3 or a rename may rewrite it). */
  private static final Set<String> WORDS =
      Set.of(
          "create", "table", "if", "not", "exists", "main", "kv", "key", "value", "text", "null",
          "primary", "strict", "without", "rowid");

  /**
   * What differs between {@code c}'s {@code kv} table and the one KVLog created, with the fix; null
   * if nothing does. Reads only.
   */
  static String problem(Connection c) throws SQLException {
    List<String> problems = new ArrayList<>();
    List<String> fixes = new ArrayList<>();
    String sql = null;
    try (Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT type, sql FROM sqlite_schema WHERE lower(name) = 'kv'"
                    + " AND type IN ('table', 'view')")) {
      if (!rs.next()) {
        return "it has no kv table (it was dropped or renamed by another tool); restore the store"
            + " from a backup, or recreate the table with sqlite3: "
            + CREATE
            + ";";
      }
      if (!"table".equals(rs.getString(1))) {
        return "its kv is a " + rs.getString(1) + ", not a table; drop it and restore the table";
      }
      sql = rs.getString(2);
    }
    boolean recreate = false;
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("PRAGMA main.table_list('kv')")) {
      if (rs.next()) {
        if (rs.getInt("wr") != 1) {
          problems.add("it is not WITHOUT ROWID");
          recreate = true;
        }
        if (rs.getInt("strict") != 1) {
          problems.add("it is not STRICT (a column could hold a non-TEXT value)");
          recreate = true;
        }
      }
    }
    List<String> columns = new ArrayList<>();
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("PRAGMA main.table_xinfo('kv')")) {
      while (rs.next()) {
        columns.add(
            rs.getString("name")
                + " "
                + rs.getString("type")
                + (rs.getInt("notnull") == 1 ? " NOT NULL" : "")
                + (rs.getInt("pk") > 0 ? " PRIMARY KEY" : "")
                + (rs.getString("dflt_value") != null
                    ? " DEFAULT " + rs.getString("dflt_value")
                    : "")
                + (rs.getInt("hidden") != 0 ? " (hidden or generated)" : ""));
      }
    }
    List<String> expected = List.of("key TEXT NOT NULL PRIMARY KEY", "value TEXT NOT NULL");
    if (!columns.equals(expected)) {
      problems.add(
          "its columns are ("
              + String.join(", ", columns)
              + ") where KVLog's are ("
              + String.join(", ", expected)
              + ")");
      recreate = true;
    }
    Set<String> extra = new TreeSet<>();
    for (String word : sql.toLowerCase(Locale.ROOT).split("[^a-z0-9_]+")) {
      if (!word.isEmpty() && !WORDS.contains(word)) {
        extra.add(word);
      }
    }
    if (!extra.isEmpty()) {
      problems.add(
          "its definition has clauses KVLog's does not (" + String.join(", ", extra) + ")");
      recreate = true;
    }
    if (recreate) {
      fixes.add(
          "recreate it with sqlite3: BEGIN; "
              + CREATE.replace("TABLE kv(", "TABLE kv_new(")
              + "; INSERT INTO kv_new SELECT key, value FROM kv; DROP TABLE kv;"
              + " ALTER TABLE kv_new RENAME TO kv; COMMIT; (first repair rows that do not fit)");
    }
    List<String> triggers =
        names(
            c, "SELECT name FROM sqlite_schema WHERE type = 'trigger' AND lower(tbl_name) = 'kv'");
    if (!triggers.isEmpty()) {
      problems.add(
          "it has "
              + (triggers.size() == 1 ? "a trigger " : "triggers ")
              + String.join(", ", triggers)
              + ", which could change or drop what KVLog writes");
      for (String t : triggers) {
        fixes.add("DROP TRIGGER " + quote(t) + ";");
      }
    }
    List<String> indexes = uniqueIndexes(c);
    if (!indexes.isEmpty()) {
      problems.add(
          "it has unique "
              + (indexes.size() == 1 ? "index " : "indexes ")
              + String.join(", ", indexes)
              + ", which could refuse what KVLog writes");
      for (String i : indexes) {
        fixes.add("DROP INDEX " + quote(i) + ";");
      }
    }
    if (problems.isEmpty()) {
      return null;
    }
    return "its kv table is not the one KVLog created: "
        + String.join("; ", problems)
        + ". KVLog's cache mirrors the table exactly, so other tools may change its rows but"
        + " not its schema or add triggers. Fix: "
        + String.join(" ", fixes);
  }

  private static List<String> names(Connection c, String query) throws SQLException {
    List<String> names = new ArrayList<>();
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(query)) {
      while (rs.next()) {
        names.add(rs.getString(1));
      }
    }
    return names;
  }

  /** Unique indexes on kv other than its primary key's. */
  private static List<String> uniqueIndexes(Connection c) throws SQLException {
    List<String> names = new ArrayList<>();
    try (PreparedStatement s = c.prepareStatement("PRAGMA main.index_list('kv')");
        ResultSet rs = s.executeQuery()) {
      while (rs.next()) {
        if (rs.getInt("unique") == 1 && !"pk".equals(rs.getString("origin"))) {
          names.add(rs.getString("name"));
        }
      }
    }
    return names;
  }

  private static String quote(String name) {
    return '"' + name.replace("\"", "\"\"") + '"';
  }
}
