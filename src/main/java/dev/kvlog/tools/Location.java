package dev.kvlog.tools;

import dev.kvlog.KVLog;
import dev.kvlog.internal.Secrets;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where a store is: a SQLite store file, or a PostgreSQL JDBC URL (exactly one of the two). It is
 * already parsed: the command line's {@code Targets} turns what the user typed into one, refusing
 * what it cannot honour. Immutable, so thread-safe.
 */
public record Location(Path file, String postgresUrl) {

  public Location {
    if ((file == null) == (postgresUrl == null)) {
      throw new IllegalArgumentException("a location is a file or a PostgreSQL URL, not both");
    }
  }

  /** A SQLite store file. */
  public static Location file(Path file) {
    return new Location(Objects.requireNonNull(file, "file"), null);
  }

  /** A PostgreSQL store: a {@code jdbc:postgresql:} URL. */
  public static Location postgres(String url) {
    return new Location(null, Objects.requireNonNull(url, "url"));
  }

  public boolean isFile() {
    return file != null;
  }

  /** For messages: the file, or the URL with its secrets masked. */
  public String display() {
    return isFile() ? file.toString() : Secrets.redact(postgresUrl, Secrets.of(postgresUrl));
  }

  /**
   * Whether both name the same store as written: the same file (after making both paths absolute
   * and normalized) or the same URL. It does not follow symbolic links or ask a server, so two
   * spellings of one PostgreSQL database are not caught; it catches the copy onto itself that a
   * typo makes.
   */
  public boolean sameStoreAs(Location other) {
    if (isFile() && other.isFile()) {
      return file.toAbsolutePath().normalize().equals(other.file.toAbsolutePath().normalize());
    }
    return !isFile() && !other.isFile() && postgresUrl.equals(other.postgresUrl);
  }

  /** Opens the store read-only; see {@link Source}. Nothing is created. */
  public Source openForReading() {
    return isFile() ? Source.sqlite(file) : Source.postgres(postgresUrl, display());
  }

  /** The cache of a file opened for writing: a command writes, it does not read it all back. */
  static final long WRITING_CACHE_BYTES = 16L << 20;

  /**
   * Opens the store for writing: a file is created if missing, and refused with {@link
   * dev.kvlog.StoreLockedException} while another process owns it. A file is opened with a bounded
   * cache ({@value #WRITING_CACHE_BYTES} bytes), so a command's open does not read every row (a
   * {@code set} on a store of 10M entries no longer loads them all first); {@code verifyOnOpen}
   * stays on, so a damaged file is still refused before anything is written.
   */
  public KVLog<String, String> openForWriting() {
    return isFile()
        ? KVLog.builder(file).cacheSize(WRITING_CACHE_BYTES).verifyOnOpen(true).open()
        : KVLog.connect(postgresUrl);
  }
}
