package dev.kvlog;

import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Ready-made {@link Codec}s. All are thread-safe. No Jackson type appears in this class's
 * signatures, so it loads (and can be reflected on) without the optional Jackson dependency.
 */
public final class Codecs {

  private static final Codec<String> STRING =
      new Codec<>() {
        @Override
        public String encode(String value) {
          return value;
        }

        @Override
        public String decode(String text) {
          return text;
        }

        @Override
        public String toString() {
          return "Codecs.string()";
        }
      };

  private Codecs() {}

  /**
   * The identity codec: strings are stored as they are.
   *
   * @return the shared identity codec
   */
  public static Codec<String> string() {
    return STRING;
  }

  /**
   * Stores values as JSON text, so they can be queried with SQLite's JSON functions ({@code SELECT
   * json_extract(value, '$.name') FROM kv}). Needs {@code
   * com.fasterxml.jackson.core:jackson-databind} on the classpath (an optional dependency of
   * KVLog). Every {@code decode} builds a fresh object, so a caller can never change a cached
   * value.
   *
   * @param <T> the type converted
   * @param type the class values are decoded to
   * @return a JSON codec for {@code type} with a default {@code ObjectMapper}
   * @throws IllegalStateException if Jackson is not on the classpath
   */
  public static <T> Codec<T> json(Class<T> type) {
    ObjectMapper mapper;
    try {
      mapper = new ObjectMapper();
    } catch (NoClassDefFoundError e) {
      throw new IllegalStateException(
          "Codecs.json needs Jackson: add com.fasterxml.jackson.core:jackson-databind (2.x) to"
              + " the classpath; KVLog declares it as an optional dependency",
          e);
    }
    return JsonCodec.of(mapper, type);
  }
}
