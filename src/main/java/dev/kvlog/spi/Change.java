package dev.kvlog.spi;

import java.util.Objects;

/**
 * One change of a batch, in encoded text: {@code key} is set to {@code value}, or removed when
 * {@code value} is null.
 *
 * @param key the encoded key; never null
 * @param value the encoded value, or null to remove the key
 */
public record Change(String key, String value) {
  /**
   * A change; a null {@code value} removes the key.
   *
   * @param key the encoded key; never null
   * @param value the encoded value, or null to remove the key
   * @throws NullPointerException if {@code key} is null
   */
  public Change {
    Objects.requireNonNull(key, "key");
  }
}
