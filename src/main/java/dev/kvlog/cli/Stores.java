package dev.kvlog.cli;

import dev.kvlog.KVLog;
import dev.kvlog.KVLogException;
import dev.kvlog.StoreLockedException;
import dev.kvlog.sqlite.OwnerLock;
import dev.kvlog.tools.Location;
import dev.kvlog.tools.Source;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.sqlite.SQLiteException;

/**
 * The one way the commands open a store, for either backend, and the messages for what stops them.
 * Stateless, so thread-safe.
 */
final class Stores {
  private Stores() {}

  /**
   * The store opened for reading (see {@link Source}): a file is opened read-only, without the
   * owner lock: it must exist, and may be owned by a running application. On PostgreSQL, read-only
   * transactions on one connection.
   */
  static Source read(Location target) {
    return target.openForReading();
  }

  /**
   * The store opened for writing: a file is created if missing, and refused while another process
   * owns it (see {@link #lockedMessage}).
   */
  static KVLog<String, String> write(Location target) {
    return target.openForWriting();
  }

  private static final Pattern PID = Pattern.compile("pid ([0-9]+)");

  /**
   * The CLI's answer to a write on a store another process owns: refused, naming the owner's pid if
   * its lock file records one. (The alternative, committing beside the owner as an external change,
   * would make the owner's cache stale for up to its polling interval and race its writes' prior
   * values; refusing keeps the owner the only writer.)
   */
  static String lockedMessage(StoreLockedException e) {
    String message = e.getMessage();
    if (message.contains("in this JVM")) {
      return message;
    }
    String path = message.substring(0, Math.max(0, message.indexOf(" is open for writing")));
    String owner = "another process";
    if (!path.isEmpty()) {
      try {
        Matcher pid = PID.matcher(Files.readString(OwnerLock.lockFile(Path.of(path))));
        if (pid.find()) {
          owner = "process " + pid.group(1);
        }
      } catch (IOException | RuntimeException unreadable) {
        // the pid is a courtesy; the refusal stands without it
      }
    } else {
      path = "the store";
    }
    return path
        + " is owned by "
        + owner
        + ", so kvlog will not write to it (nothing was written): make the change through that"
        + " process, or stop it and retry. Read commands (get, list, export, stats, check, backup)"
        + " work while it runs.";
  }

  /** Why {@code path} cannot be checked at all, or null if it can be read. */
  static String accessProblem(Path path) {
    if (!Files.exists(path)) {
      return path + " does not exist; check the path";
    }
    if (!Files.isRegularFile(path)) {
      return path + " is not a regular file; give the store's .db file";
    }
    if (!Files.isReadable(path)) {
      return path
          + " cannot be read by this process (permission denied); fix its permissions or run as"
          + " the user that owns it";
    }
    return null;
  }

  /** The message of {@code e} if SQLite refused access (permissions), else null. */
  static String accessDenied(KVLogException e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SQLiteException) {
        String code = ((SQLiteException) t).getResultCode().name();
        if (code.startsWith("SQLITE_CANTOPEN")
            || code.startsWith("SQLITE_PERM")
            || code.startsWith("SQLITE_AUTH")
            || code.equals("SQLITE_READONLY_DIRECTORY")) {
          return e.getMessage() + " (access denied)";
        }
      }
    }
    return null;
  }
}
