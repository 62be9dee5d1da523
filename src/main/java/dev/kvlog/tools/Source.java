package dev.kvlog.tools;

import dev.kvlog.internal.Text;
import dev.kvlog.postgres.PostgresReader;
import dev.kvlog.sqlite.KVLogReader;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.IntSupplier;

/**
 * A store opened only for reading, for tools: a SQLite file through {@link KVLogReader} (read-only,
 * without the owner lock, so it works while an application owns and writes the store, and never
 * creates or changes a file), or PostgreSQL through {@link PostgresReader} (read-only transactions
 * on one connection; no migration, no cache, no change listener).
 *
 * <p>Not thread-safe: one caller at a time (the PostgreSQL reader holds one plain connection).
 */
public interface Source extends AutoCloseable {
  Optional<String> get(String key);

  /** Entries with from <= key < to (nulls: unbounded), in key order, from one snapshot. */
  void forEach(String from, String to, BiConsumer<String, String> action);

  default void forEachWithPrefix(String prefix, BiConsumer<String, String> action) {
    forEach(prefix.isEmpty() ? null : prefix, Text.successorOfPrefix(prefix), action);
  }

  int size();

  int schemaVersion();

  @Override
  void close();

  /** The existing store file {@code file}, read-only, whether or not another process owns it. */
  static Source sqlite(Path file) {
    KVLogReader r = KVLogReader.open(file);
    return new Reader(r::get, r::forEach, r::size, r::schemaVersion, r::close);
  }

  /**
   * The PostgreSQL store at {@code url}, read-only; {@code where} names it in messages (the URL
   * with its secrets masked). Refused if the schema holds no KVLog store: nothing is created.
   */
  static Source postgres(String url, String where) {
    PostgresReader r = PostgresReader.open(url, where);
    return new Reader(r::get, r::forEach, r::size, r::schemaVersion, r::close);
  }

  /** A range read, as {@link #forEach}. */
  @FunctionalInterface
  interface RangeRead {
    void forEach(String from, String to, BiConsumer<String, String> action);
  }

  /** A backend's read-only reader seen as a {@link Source}: each method is the reader's own. */
  record Reader(
      Function<String, Optional<String>> getter,
      RangeRead ranges,
      IntSupplier sizer,
      IntSupplier version,
      Runnable closer)
      implements Source {
    @Override
    public Optional<String> get(String key) {
      return getter.apply(key);
    }

    @Override
    public void forEach(String from, String to, BiConsumer<String, String> action) {
      ranges.forEach(from, to, action);
    }

    @Override
    public int size() {
      return sizer.getAsInt();
    }

    @Override
    public int schemaVersion() {
      return version.getAsInt();
    }

    @Override
    public void close() {
      closer.run();
    }
  }
}
