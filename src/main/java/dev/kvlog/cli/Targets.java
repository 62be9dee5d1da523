package dev.kvlog.cli;

import dev.kvlog.internal.Secrets;
import dev.kvlog.sqlite.SqliteProvider;
import dev.kvlog.tools.Location;
import java.nio.file.Path;
import java.util.List;

/**
 * Where a command points, as the user typed it ({@code --file}, {@code --url}, {@code copy
 * --from/--to}), parsed once into a {@link Location} (a SQLite store file, or a PostgreSQL JDBC
 * URL). Refuses what it cannot honour with one line, and knows the secrets in it so that no message
 * prints them. Stateless, so thread-safe.
 */
final class Targets {
  private Targets() {}

  /** A --url value: only a JDBC URL, never a file path. */
  static Location parseUrl(String url) {
    if (!url.regionMatches(true, 0, "jdbc:", 0, 5)) {
      throw new Main.Refused(
          "--url "
              + redact(url, secretsOf(url))
              + " is not a JDBC URL; give jdbc:postgresql://host/database?user=USER or"
              + " jdbc:sqlite:FILE (or --file FILE for a store file)");
    }
    return parse(url);
  }

  /**
   * A --url, or a copy --from/--to value (a JDBC URL or a file path). Anything that looks like a
   * URL ({@code scheme://}, or {@code jdbc:} in any case) is a URL, never a path: taken as a path,
   * a write command would create directories named after its password. The drivers accept only
   * lowercase prefixes, so other cases are refused rather than guessed.
   */
  static Location parse(String location) {
    if (!location.startsWith("jdbc:")) {
      boolean jdbcInAnotherCase = location.regionMatches(true, 0, "jdbc:", 0, 5);
      if (jdbcInAnotherCase || location.matches("(?s)[A-Za-z][A-Za-z0-9+.-]*://.*")) {
        throw new Main.Refused(
            redact(location, secretsOf(location))
                + (jdbcInAnotherCase
                    ? " is not understood: JDBC URLs are lowercase: jdbc:postgresql:… or"
                        + " jdbc:sqlite:…"
                    : " is a URL, not a file path: give jdbc:postgresql://host/database?user=USER"
                        + " or jdbc:sqlite:FILE"));
      }
      return Location.file(Path.of(location));
    }
    if (location.startsWith("jdbc:postgresql:")) {
      if (Secrets.hasUserInfo(location)) {
        // pgjdbc reads user:secret@host as host:port, and its warning quoted the secret.
        throw new Main.Refused(
            redact(location, secretsOf(location))
                + ": the PostgreSQL driver does not take user:password@ in the URL; give them as"
                + " parameters: jdbc:postgresql://host/database?user=USER&password=PASSWORD");
      }
      return Location.postgres(location);
    }
    if (location.startsWith("jdbc:sqlite:")) {
      return Location.file(sqliteFile(location));
    }
    throw new Main.Refused(
        "unsupported URL "
            + redact(location, secretsOf(location))
            + ": use jdbc:sqlite:FILE or jdbc:postgresql://host/database");
  }

  /**
   * The file of a {@code jdbc:sqlite:} URL, read exactly as the library reads it ({@link
   * SqliteProvider#file(String, String)}): parameters, in-memory databases and empty names are
   * refused, since a parameter such as {@code mode=ro} or {@code mode=memory} would silently change
   * what the command does.
   */
  private static Path sqliteFile(String url) {
    try {
      return SqliteProvider.file(url, "--url ");
    } catch (IllegalArgumentException e) {
      throw new Main.Refused(e.getMessage());
    }
  }

  /** Every secret written in {@code url}; see {@link Secrets#of}. */
  static List<String> secretsOf(String url) {
    return Secrets.of(url);
  }

  /** {@code text} with every secret masked; see {@link Secrets#redact}. */
  static String redact(String text, List<String> secrets) {
    return Secrets.redact(text, secrets);
  }
}
