package dev.kvlog.sqlite;

import java.nio.file.Path;
import java.sql.SQLException;
import org.sqlite.SQLiteErrorCode;
import org.sqlite.SQLiteException;

/** Turns SQLite failures into messages that say what happened and what to do. */
public final class Errors {
  private Errors() {}

  /** The primary SQLite result code of {@code e}, or -1 if it did not come from SQLite. */
  static int primaryCode(SQLException e) {
    if (e instanceof SQLiteException) {
      return ((SQLiteException) e).getResultCode().code & 0xff;
    }
    return -1;
  }

  /** A message for a failure while opening or reading the store. */
  public static String describe(Path path, SQLException e) {
    int code = primaryCode(e);
    if (code == SQLiteErrorCode.SQLITE_NOTADB.code) {
      return path + " is not a KVLog store (file is not a SQLite database); refusing to open it";
    }
    if (code == SQLiteErrorCode.SQLITE_CORRUPT.code) {
      return path
          + " is corrupt ("
          + e.getMessage()
          + "); restore it from a backup."
          + " KVLog will not open or repair it";
    }
    if (code == SQLiteErrorCode.SQLITE_BUSY.code) {
      return path + " is locked by another connection (" + e.getMessage() + "); close it and retry";
    }
    return "cannot read " + path + ": " + e.getMessage();
  }

  /** The extended SQLite result code of {@code e}, or -1 if it did not come from SQLite. */
  static int extendedCode(SQLException e) {
    if (e instanceof SQLiteException) {
      return ((SQLiteException) e).getResultCode().code;
    }
    return -1;
  }

  /** SQLITE_READONLY_DBMOVED: the database file was unlinked or renamed while open. */
  static final int READONLY_DBMOVED = 1032;

  /**
   * A hint for a failed write, by primary result code; -1 for a failure of unknown outcome. It
   * agrees with the failure's flags: only -1 (or a code {@link #leftStoreUnchanged} rejects) says
   * the outcome is unknown.
   */
  static String writeHint(int code) {
    if (code == SQLiteErrorCode.SQLITE_FULL.code) {
      return "the disk (or the database's max_page_count) is full; free space and retry";
    }
    if (code == SQLiteErrorCode.SQLITE_BUSY.code || code == SQLiteErrorCode.SQLITE_LOCKED.code) {
      return "another connection (an open sqlite3 shell?) held SQLite's write lock longer than"
          + " busyTimeout; retry once it is released";
    }
    if (code == SQLiteErrorCode.SQLITE_READONLY.code) {
      return "the database file or its directory is read-only; fix the permissions and retry";
    }
    if (code == SQLiteErrorCode.SQLITE_TOOBIG.code) {
      return "the key or value is larger than SQLite's maximum string length";
    }
    if (code == SQLiteErrorCode.SQLITE_CONSTRAINT.code) {
      return "a constraint or trigger of the kv table refused it, so it was not applied; KVLog"
          + " refuses to open a kv table with triggers or constraints of its own, so another tool"
          + " changed the schema: restore the table KVLog created (sql/sqlite/V1__create_kv.sql)";
    }
    if (code == SQLiteErrorCode.SQLITE_NOMEM.code) {
      return "SQLite ran out of memory, so it was not applied; retry with more memory";
    }
    if (code >= 0 && leftStoreUnchanged(code)) {
      return "it was not applied; retry";
    }
    return "the outcome is unknown, so writes are refused until the store is closed and reopened"
        + " (reopening reloads what the log holds)";
  }

  /**
   * True if SQLite guarantees that a statement failing with {@code code} changed nothing, so the
   * store can go on. Any other failure (I/O error, corruption) may have happened after the commit
   * record reached the file, so the cache can no longer be trusted to equal the log.
   */
  static boolean leftStoreUnchanged(int code) {
    return code == SQLiteErrorCode.SQLITE_FULL.code
        || code == SQLiteErrorCode.SQLITE_BUSY.code
        || code == SQLiteErrorCode.SQLITE_LOCKED.code
        || code == SQLiteErrorCode.SQLITE_READONLY.code
        || code == SQLiteErrorCode.SQLITE_TOOBIG.code
        || code == SQLiteErrorCode.SQLITE_CONSTRAINT.code
        || code == SQLiteErrorCode.SQLITE_NOMEM.code;
  }
}
