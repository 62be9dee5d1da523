package dev.kvlog.sqlite;

import dev.kvlog.SchemaException;
import dev.kvlog.WriteFailedException;
import java.nio.file.Path;
import java.sql.SQLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link SqliteWriter}'s failure classification: which failures leave the table unchanged and
 * which leave the outcome unknown, what each caller is told, and the one unclean failure that stops
 * further writes until the store is reopened. Not thread-safe: used under the writer lock (see
 * {@link GroupCommitter}).
 *
 * <p>Invariant: a write returns, or throws with the table unchanged, or throws {@link
 * WriteFailedException#outcomeUnknown()}; once a write's outcome is unknown, every later write is
 * refused ({@link #checkWritable}) until reopened, since the writer connection's state is unknown.
 */
final class WriteFailures {
  private static final Logger log = LoggerFactory.getLogger(WriteFailures.class);

  private final Path path;
  private SQLException stopped; // the unclean failure that stopped writes, or null

  WriteFailures(Path path) {
    this.path = path;
  }

  /** Whether an unclean failure stopped writes (reads then leave the writer connection alone). */
  boolean stopped() {
    return stopped != null;
  }

  /** The failure that stops writes, recorded once (the first one is what the caller must fix). */
  SQLException stop(SQLException e) {
    if (stopped == null) {
      stopped = e;
    }
    return stopped;
  }

  /** Refuses a write once an unclean failure stopped writes. */
  void checkWritable() {
    if (stopped != null) {
      throw new WriteFailedException(
          path
              + " refuses writes since an earlier write failed with an"
              + " unknown outcome ("
              + stopped.getMessage()
              + "); close and reopen the store",
          stopped,
          true);
    }
  }

  /**
   * Classifies {@code e}: clean (the store goes on) unless its outcome is unknown, {@code unknown}
   * says so, or the statements could not be re-prepared; an unclean failure stops writes.
   */
  boolean classify(SQLException e, boolean unknown, boolean reprepared) {
    int code = Errors.primaryCode(e);
    boolean clean = !unknown && reprepared && Errors.leftStoreUnchanged(code);
    if (!clean && stopped == null) {
      stopped = e;
      log.error("write to {} failed with an unknown outcome; refusing further writes", path, e);
    }
    return clean;
  }

  /** What the caller of {@code r} is told about {@code e}, classified {@code clean} or not. */
  WriteFailedException describe(WriteRequest<?> r, SQLException e, boolean clean) {
    int code = Errors.primaryCode(e);
    String hint =
        Errors.extendedCode(e) == Errors.READONLY_DBMOVED
            ? "the database file was deleted or moved while the store was open, so no write can be"
                + " made durable; close the store and put the file back (or restore a backup)"
            : Errors.writeHint(clean ? code : -1);
    return new WriteFailedException(
        r.describe() + " in " + path + " failed: " + e.getMessage() + "; " + hint, e, !clean);
  }

  /** Reading another connection's change failed inside the transaction, which was rolled back. */
  WriteFailedException notAppliedAfterReload(WriteRequest<?> r, Exception e) {
    return new WriteFailedException(
        r.describe()
            + " in "
            + path
            + " was not applied (the table is unchanged): "
            + (e instanceof SchemaException
                ? ""
                : "another connection changed the table and reading the change failed: ")
            + e.getMessage(),
        e,
        false,
        false);
  }

  /**
   * A bug, not a SQLite failure, struck on the write path: since where it struck is unknown, so is
   * whether the write was applied. The caller stops writes ({@link #stop}).
   */
  WriteFailedException unexpected(Throwable e) {
    return new WriteFailedException(
        "write to "
            + path
            + " failed unexpectedly; it may or may not have been"
            + " applied, and the store refuses further writes until reopened: "
            + e,
        e,
        true,
        true);
  }

  /**
   * The database file was deleted or replaced ({@code problem}, from {@link
   * ExternalChanges#fileProblem}): no write can be made durable. Stops writes.
   */
  WriteFailedException fileGone(SQLException problem) {
    stop(problem);
    log.error("{}: refusing further writes", problem.getMessage());
    return new WriteFailedException(
        "cannot write to "
            + path
            + ": the database file was deleted or moved while the store was open, so no write"
            + " can be made durable; close the store and put the file back (or restore a backup)",
        problem,
        true);
  }
}
