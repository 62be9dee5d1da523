package dev.kvlog;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.UncheckedIOException;

/** Jackson-backed codec; in its own class so that Jackson is loaded only by those who use it. */
final class JsonCodec<T> implements Codec<T> {
  private final ObjectMapper mapper;
  private final Class<T> type;

  JsonCodec(ObjectMapper mapper, Class<T> type) {
    this.mapper = mapper;
    this.type = type;
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
