package dev.kvlog.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where a command points: a SQLite store file, or a PostgreSQL JDBC URL. Parses what the user typed
 * ({@code --file}, {@code --url}, {@code copy --from/--to}) once, refuses what it cannot honour
 * with one line, and knows the secrets in it so that no message prints them.
 */
record Target(Path file, String postgresUrl) {

  boolean isFile() {
    return file != null;
  }

  /** For messages: the file, or the URL with its secrets masked. */
  String display() {
    return isFile() ? file.toString() : redact(postgresUrl, secretsOf(postgresUrl));
  }

  /** A --url, or a copy --from/--to value (a JDBC URL or a file path). */
  static Target parse(String location) {
    if (!location.startsWith("jdbc:")) {
      return new Target(Path.of(location), null);
    }
    if (location.startsWith("jdbc:postgresql:")) {
      return new Target(null, location);
    }
    if (location.startsWith("jdbc:sqlite:")) {
      return new Target(sqliteFile(location), null);
    }
    throw new Main.Refused(
        "unsupported URL "
            + redact(location, secretsOf(location))
            + ": use jdbc:sqlite:FILE or jdbc:postgresql://host/database");
  }

  /**
   * The file of {@code jdbc:sqlite:PATH} or of an SQLite URI filename {@code jdbc:sqlite:file:PATH}
   * ({@code file:///abs/path} too). Parameters are refused: KVLog sets the connection's mode and
   * pragmas itself, and a parameter such as {@code mode=ro} or {@code mode=memory} would silently
   * change what the command does.
   */
  private static Path sqliteFile(String url) {
    String rest = url.substring("jdbc:sqlite:".length());
    String shown = redact(url, secretsOf(url));
    int query = rest.indexOf('?');
    if (query >= 0) {
      throw new Main.Refused(
          shown
              + ": URL parameters ("
              + rest.substring(query + 1)
              + ") are not supported; KVLog sets the SQLite connection's mode and pragmas itself."
              + " Give the file alone: --url jdbc:sqlite:"
              + plain(rest.substring(0, query)));
    }
    String path = plain(rest);
    if (path.isEmpty() || path.equals(":memory:") || path.contains("%")) {
      throw new Main.Refused(
          shown
              + " does not name a store file; use --file PATH or --url jdbc:sqlite:PATH (no"
              + " in-memory databases, no %-escapes)");
    }
    return Path.of(path);
  }

  /** The path of an SQLite URI filename ({@code file:}), or {@code rest} itself. */
  private static String plain(String rest) {
    if (!rest.startsWith("file:")) {
      return rest;
    }
    String p = rest.substring("file:".length());
    if (p.startsWith("//")) { // file://AUTHORITY/path: only an empty authority or localhost
      String authority = p.substring(2, p.indexOf('/', 2) < 0 ? p.length() : p.indexOf('/', 2));
      if (!authority.isEmpty() && !authority.equals("localhost")) {
        throw new Main.Refused(
            "jdbc:sqlite:" + rest + " names host " + authority + "; give a local file path");
      }
      p = p.substring(2 + authority.length());
    }
    return p;
  }

  private static final Pattern USER_INFO = Pattern.compile("//([^/@?#]*)@");
  private static final Pattern SECRET_PARAMETER =
      Pattern.compile("(?i)[?&;]([a-z]*(?:password|secret|token|key)[a-z]*)=([^&;#]*)");

  /** Every secret written in {@code url}: a user-info password, and password-like parameters. */
  static List<String> secretsOf(String url) {
    List<String> secrets = new ArrayList<>();
    if (url == null) {
      return secrets;
    }
    Matcher userInfo = USER_INFO.matcher(url);
    if (userInfo.find()) {
      String info = userInfo.group(1);
      int colon = info.indexOf(':');
      if (colon >= 0 && colon + 1 < info.length()) {
        secrets.add(info.substring(colon + 1));
      }
    }
    Matcher parameter = SECRET_PARAMETER.matcher(url);
    while (parameter.find()) {
      if (!parameter.group(2).isEmpty()) {
        secrets.add(parameter.group(2));
      }
    }
    return secrets;
  }

  /** {@code text} with every occurrence of each secret (raw or %-decoded) replaced by ***. */
  static String redact(String text, List<String> secrets) {
    if (text == null) {
      return null;
    }
    String out = text;
    for (String secret : secrets) {
      out = out.replace(secret, "***");
      try {
        String decoded =
            java.net.URLDecoder.decode(secret, java.nio.charset.StandardCharsets.UTF_8);
        if (!decoded.isEmpty()) {
          out = out.replace(decoded, "***");
        }
      } catch (IllegalArgumentException malformed) {
        // not %-encoded: the raw form was replaced
      }
    }
    return out;
  }
}
