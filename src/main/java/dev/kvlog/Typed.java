package dev.kvlog;

import dev.kvlog.internal.Text;
import dev.kvlog.spi.Backend;
import java.util.Objects;
import java.util.function.Function;

/**
 * Keys and values between their types and the text a backend stores: the one place they are
 * encoded, checked and decoded, for every backend. A codec that fails, or that returns null (say
 * JSON's {@code null} literal, which no {@code set} stores since values are never null), cannot
 * decode the text: {@link CorruptValueException} naming the key. Thread-safe (codecs are).
 */
final class Typed<K, V> {
  private final Codec<K> keys;
  private final Codec<V> values;
  private final Backend backend;
  private final String where;

  Typed(Codec<K> keys, Codec<V> values, Backend backend, String where) {
    this.keys = keys;
    this.values = values;
    this.backend = backend;
    this.where = where;
  }

  /**
   * The encoded key, checked to be valid UTF-16 and storable by the backend.
   *
   * @param mayInsert whether the operation may create the key (the backend may limit its length)
   */
  String key(K key, boolean mayInsert) {
    Objects.requireNonNull(key, "key must not be null");
    String k = Text.requireValidUtf16(keys.encode(key), "key");
    backend.checkKey(k, mayInsert);
    return k;
  }

  /**
   * The encoded key, not yet checked (never null): for a backend whose hit proves a key valid
   * ({@link Backend#getHitProvesKeyValid}); {@link #checkReadKey} checks it after a miss.
   */
  String uncheckedKey(K key) {
    Objects.requireNonNull(key, "key must not be null");
    String k = keys.encode(key);
    return k != null ? k : Text.requireValidUtf16(null, "key"); // throws, naming the codec
  }

  /** Checks a key from {@link #uncheckedKey} as {@link #key key(key, false)} does. */
  void checkReadKey(String k) {
    Text.requireValidUtf16(k, "key");
    backend.checkKey(k, false);
  }

  /** The encoded value, checked as {@link #key}. */
  String encodeValue(V value) {
    Objects.requireNonNull(value, "value must not be null; use delete(key) to remove a key");
    String v = Text.requireValidUtf16(values.encode(value), "value");
    backend.checkValue(v);
    return v;
  }

  /** A write's prior-value decoder for {@code key}; the backend runs it before it commits. */
  Function<String, V> priorOf(String key) {
    return text -> value(key, text);
  }

  /** Decodes a stored value: the one place values are decoded (get, priors, scans, forEach). */
  V value(String key, String text) {
    V value;
    try {
      value = values.decode(text);
    } catch (KVLogException e) {
      throw e;
    } catch (RuntimeException e) {
      throw undecodableValue(key, e.getMessage(), e);
    }
    if (value == null) {
      throw undecodableValue(key, "it decodes to null, and a stored value is never null", null);
    }
    return value;
  }

  private CorruptValueException undecodableValue(String key, String why, Throwable cause) {
    return new CorruptValueException(
        "the stored value of key "
            + Text.excerpt(key)
            + " in "
            + where
            + " cannot be decoded by "
            + values
            + " ("
            + why
            + "); another tool may have edited it, or the value type changed. Replace it with"
            + " a WriteBatch (which returns no prior value) or repair the row with SQL (sqlite3,"
            + " psql)",
        cause);
  }

  /** Decodes a stored key; as {@link #value}, a codec returning null cannot decode it. */
  K decodeKey(String text) {
    K key;
    try {
      key = keys.decode(text);
    } catch (KVLogException e) {
      throw e;
    } catch (RuntimeException e) {
      throw undecodableKey(text, e.getMessage(), e);
    }
    if (key == null) {
      throw undecodableKey(text, "it decodes to null, and a key is never null", null);
    }
    // A key another tool wrote in another text form (JSON with its fields reordered, say) decodes,
    // but get, set and delete of that key address the codec's own text: a different row.
    String canonical;
    try {
      canonical = keys.encode(key);
    } catch (RuntimeException e) {
      canonical = null;
    }
    if (!text.equals(canonical)) {
      throw undecodableKey(
          text,
          "the codec writes that key as "
              + (canonical == null ? "nothing (it cannot encode it)" : Text.excerpt(canonical))
              + ", so get, set and delete of it would address another row; rewrite the row's key"
              + " in that form",
          null);
    }
    return key;
  }

  private CorruptValueException undecodableKey(String text, String why, Throwable cause) {
    return new CorruptValueException(
        "the stored key "
            + Text.excerpt(text)
            + " in "
            + where
            + " cannot be decoded by "
            + keys
            + " ("
            + why
            + "); delete it with a WriteBatch of the encoded key's codec, or with SQL",
        cause);
  }
}
