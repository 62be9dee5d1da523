package dev.kvlog.internal;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the secrets written in a JDBC URL and masks them in any text, so that no message, log line
 * or {@code toString} prints a password. One implementation for the library and the command line: a
 * user-info password ({@code //user:secret@host}) and every password-like parameter ({@code
 * password=}, {@code sslpassword=}, {@code token=}, ...), raw or %-decoded. Thread-safe
 * (stateless).
 */
public final class Secrets {
  /**
   * User-info ends at the last '@' before the query: a password may hold '/', '@' or '#' (cut at
   * the first of them, the rest of it was printed). Taking too much only masks more.
   */
  private static final Pattern USER_INFO = Pattern.compile("//([^?]*)@");

  /**
   * A value ends at '&' only: pgjdbc keeps '/', '@', '#' and ';' in a parameter value, so a
   * password {@code top#secret} is all of it, not {@code top}.
   */
  private static final Pattern SECRET_PARAMETER =
      Pattern.compile("(?i)[?&;]([a-z]*(?:password|secret|token|key)[a-z]*)=([^&]*)");

  private Secrets() {}

  /**
   * Whether {@code url} holds user-info ({@code //user:password@host}) before its query: pgjdbc
   * does not take it (it reads {@code user:password} as host and port) and its warning quotes the
   * whole URL, password included, so such URLs are refused before the driver sees them.
   */
  public static boolean hasUserInfo(String url) {
    int query = url.indexOf('?');
    return USER_INFO.matcher(query < 0 ? url : url.substring(0, query)).find();
  }

  /** Every secret written in {@code url}: a user-info password, and password-like parameters. */
  public static List<String> of(String url) {
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
  public static String redact(String text, List<String> secrets) {
    if (text == null) {
      return null;
    }
    String out = text;
    for (String secret : secrets) {
      out = out.replace(secret, "***");
      try {
        String decoded = URLDecoder.decode(secret, StandardCharsets.UTF_8);
        if (!decoded.isEmpty()) {
          out = out.replace(decoded, "***");
        }
      } catch (IllegalArgumentException malformed) {
        // not %-encoded: the raw form was replaced
      }
    }
    return out;
  }

  /** {@code url} with its own secrets masked. */
  public static String redact(String url) {
    return redact(url, of(url));
  }

  /**
   * {@code t} itself if no message in its cause chain contains one of {@code secrets}; otherwise a
   * copy of the chain whose messages are masked, each link naming the class it replaces and keeping
   * its stack trace. Drivers put the URL they were given into their messages (pgjdbc reports host
   * {@code user:secret@host} as unknown), and a cause is printed with every stack trace.
   */
  public static Throwable scrub(Throwable t, List<String> secrets) {
    boolean leaks = false;
    for (Throwable c = t; c != null && !leaks; c = c.getCause()) {
      leaks =
          !redact(String.valueOf(c.getMessage()), secrets).equals(String.valueOf(c.getMessage()));
    }
    return leaks ? copy(t, secrets, 0) : t;
  }

  private static Throwable copy(Throwable t, List<String> secrets, int depth) {
    Throwable cause =
        t.getCause() == null || depth > 16 ? null : copy(t.getCause(), secrets, depth + 1);
    Redacted r =
        new Redacted(t.getClass().getName() + ": " + redact(t.getMessage(), secrets), cause);
    r.setStackTrace(t.getStackTrace());
    return r;
  }

  /** A link of a cause chain whose message had a secret in it. */
  static final class Redacted extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Redacted(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
