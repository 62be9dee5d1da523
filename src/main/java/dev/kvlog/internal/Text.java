package dev.kvlog.internal;

/** Checks on the text bound to SQL parameters. */
public final class Text {
  private Text() {}

  /**
   * Returns {@code text} if it is valid UTF-16. An unpaired surrogate cannot be encoded as UTF-8:
   * the driver would silently store {@code '?'} instead, and the value read back would differ.
   *
   * @param what "key" or "value", for the message
   * @throws IllegalArgumentException naming the index of the first unpaired surrogate, or if {@code
   *     text} is null (a codec returned null)
   */
  public static String requireValidUtf16(String text, String what) {
    if (text == null) {
      throw new IllegalArgumentException(
          what + " codec returned null; a codec must encode to text");
    }
    for (int i = 0, n = text.length(); i < n; i++) {
      char c = text.charAt(i);
      if (Character.isHighSurrogate(c)
          && i + 1 < n
          && Character.isLowSurrogate(text.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        throw new IllegalArgumentException(
            String.format(
                "%s must be valid UTF-16: unpaired surrogate \\u%04X at index %d; it cannot be"
                    + " stored as UTF-8 without being replaced",
                what, (int) c, i));
      }
    }
    return text;
  }

  /** A short, printable form of {@code text} for error messages. */
  public static String excerpt(String text) {
    String s =
        text.length() <= 40 ? text : text.substring(0, 40) + "…(" + text.length() + " chars)";
    return '"' + s.replace("\0", "\\0") + '"';
  }

  /**
   * SQLite's order of TEXT keys (BINARY collation: UTF-8 bytes, which is Unicode code point order).
   * It differs from {@link String#compareTo} (UTF-16 units) only when a supplementary character is
   * compared with a character from U+E000 to U+FFFF.
   */
  public static final java.util.Comparator<String> CODE_POINT_ORDER = Text::compareCodePoints;

  private static int compareCodePoints(String a, String b) {
    int n = Math.min(a.length(), b.length());
    for (int i = 0; i < n; i++) {
      char x = a.charAt(i);
      char y = b.charAt(i);
      if (x != y) {
        if (Character.isSurrogate(x) || Character.isSurrogate(y)) {
          return Integer.compare(a.codePointAt(i), b.codePointAt(i));
        }
        return x - y;
      }
    }
    return a.length() - b.length();
  }

  /**
   * The smallest string above every string that starts with {@code prefix}, in {@link
   * #CODE_POINT_ORDER}; null if there is none (an empty prefix, or one of only U+10FFFF).
   */
  public static String successorOfPrefix(String prefix) {
    int end = prefix.length();
    while (end > 0) {
      int cp = prefix.codePointBefore(end);
      int start = end - Character.charCount(cp);
      if (cp < Character.MAX_CODE_POINT) {
        int next = cp + 1 == Character.MIN_SURROGATE ? Character.MAX_SURROGATE + 1 : cp + 1;
        return prefix.substring(0, start) + new String(Character.toChars(next));
      }
      end = start;
    }
    return null;
  }
}
