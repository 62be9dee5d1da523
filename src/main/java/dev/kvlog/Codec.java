package dev.kvlog;

/**
 * Converts keys or values to and from the TEXT stored in the database.
 *
 * <p>{@code decode(encode(x))} must equal {@code x}, and {@code encode} must return the same text
 * for equal inputs (keys are compared by their encoded text). Implementations must be thread-safe.
 * A codec may throw any {@link RuntimeException} for input it cannot convert; the store passes it
 * to the caller and changes nothing.
 *
 * @param <T> the type converted
 * @see Codecs
 */
public interface Codec<T> {

  /**
   * Returns the text stored for {@code value}; never null.
   *
   * @param value the key or value to convert
   * @return its text form
   */
  String encode(T value);

  /**
   * Returns the object that {@code text} (produced by {@link #encode}) stands for.
   *
   * @param text a text form that {@link #encode} produced
   * @return the key or value it stands for
   */
  T decode(String text);
}
