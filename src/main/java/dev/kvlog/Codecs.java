package dev.kvlog;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Objects;

/** Ready-made {@link Codec}s. All are thread-safe. */
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

  /** The identity codec: strings are stored as they are. */
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
   * @param type the class values are decoded to
   */
  public static <T> Codec<T> json(Class<T> type) {
    return json(new ObjectMapper(), type);
  }

  /**
   * Like {@link #json(Class)}, with a configured {@code ObjectMapper}. The mapper must not be
   * reconfigured afterwards, or the same value may be encoded to different text.
   */
  public static <T> Codec<T> json(ObjectMapper mapper, Class<T> type) {
    return new JsonCodec<>(
        Objects.requireNonNull(mapper, "mapper"), Objects.requireNonNull(type, "type"));
  }
}
