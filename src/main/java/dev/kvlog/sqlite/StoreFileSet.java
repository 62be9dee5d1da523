package dev.kvlog.sqlite;

import java.nio.file.Path;
import java.util.List;

/**
 * The files of one store, all named after its database file: the database, SQLite's {@code -wal},
 * {@code -shm} and {@code -journal} beside it, and KVLog's {@code -lock}. An open store computes
 * this once from the real path {@link StoreFiles#checkPath} returned and passes it to everything
 * that names a file, so no two parts can disagree on a name (which path form, which suffix).
 * Immutable and thread-safe.
 *
 * @param database the database file; for an open store, its real path
 * @param wal SQLite's write-ahead log
 * @param shm SQLite's WAL index
 * @param journal SQLite's rollback journal (never used in WAL mode, but refused if obstructed)
 * @param lock KVLog's owner lock file (see {@link OwnerLock})
 */
record StoreFileSet(Path database, Path wal, Path shm, Path journal, Path lock) {

  /** The files of the store whose database is {@code database}, named as SQLite and KVLog do. */
  static StoreFileSet of(Path database) {
    return new StoreFileSet(
        database,
        sibling(database, "-wal"),
        sibling(database, "-shm"),
        sibling(database, "-journal"),
        sibling(database, "-lock"));
  }

  private static Path sibling(Path database, String suffix) {
    return database.resolveSibling(database.getFileName() + suffix);
  }

  /** The directory that holds every file of the store. */
  Path directory() {
    return database.getParent();
  }

  /** SQLite's own files beside the database, which it would follow or fail on if obstructed. */
  List<Path> sqliteSidecars() {
    return List.of(wal, shm, journal);
  }

  /** The JDBC URL of the database file. */
  String jdbcUrl() {
    return "jdbc:sqlite:" + database;
  }

  @Override
  public String toString() {
    return database.toString();
  }
}
