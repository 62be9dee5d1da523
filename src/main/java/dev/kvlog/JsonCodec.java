package dev.kvlog;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.UncheckedIOException;
import java.util.Objects;

/**
 * Stores values as JSON text with Jackson (an optional dependency of KVLog: add {@code
 * com.fasterxml.jackson.core:jackson-databind} to use it). Thread-safe; every {@code decode} builds
 * a fresh object. See also {@link Codecs#json(Class)}.
 *
 * @param <T> the type converted
 */
public final class JsonCodec<T> implements Codec<T> {
  private final ObjectMapper mapper;
  private final Class<T> type;

  private JsonCodec(ObjectMapper mapper, Class<T> type) {
    this.mapper = mapper;
    this.type = type;
  }

  /**
   * A codec using a configured {@code mapper}. The mapper must not be reconfigured afterwards, or
   * equal values might be encoded to different text (keys are compared by their text).
   *
   * @param <T> the type converted
   * @param mapper the configured mapper; used as it is, never reconfigured by KVLog
   * @param type the class values are decoded to
   * @return a codec for {@code type} using {@code mapper}
   */
  public static <T> JsonCodec<T> of(ObjectMapper mapper, Class<T> type) {
    return new JsonCodec<>(
        Objects.requireNonNull(mapper, "mapper"), Objects.requireNonNull(type, "type"));
  }

  @Override
  public String encode(T value) {
    try {
      return mapper.writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(
          "cannot encode " + value.getClass().getName() + " as JSON: " + e.getOriginalMessage(), e);
    }
  }

  @Override
  public T decode(String text) {
    try {
      return mapper.readValue(text, type);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(
          "stored text is not JSON for " + type.getName() + ": " + e.getOriginalMessage(), e);
    }
  }

  @Override
  public String toString() {
    return "Codecs.json(" + type.getName() + ")";
  }
}
