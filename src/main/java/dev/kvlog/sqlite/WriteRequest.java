package dev.kvlog.sqlite;

import dev.kvlog.CorruptValueException;
import dev.kvlog.WriteFailedException;
import dev.kvlog.internal.Text;
import dev.kvlog.spi.Change;
import java.nio.file.Path;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * One write queued for the {@link SqliteWriter}: what it decides against the current state and
 * which statements it executes. Applied by the leader only, under the writer lock, inside the
 * group's transaction (see "decide inside the lock" on {@link SqliteWriter}); not thread-safe
 * otherwise.
 *
 * @param <T> the type of the result its caller gets
 */
abstract class WriteRequest<T> extends GroupCommitter.Request<T> {
  private T decided; // the result decided in the current transaction, told once it committed

  /**
   * Executes this request's statements; returns its result.
   *
   * @throws Refused if the request refused itself before executing any statement
   */
  abstract T apply(Changes changes) throws SQLException, Refused;

  /** Names the request in messages: "set of key ...". */
  abstract String describe();

  /** Applies the request in the group's transaction and holds its result until the commit. */
  final void applyIn(Changes changes) throws SQLException, Refused {
    decided = apply(changes);
  }

  /** The transaction committed: tells the caller the result decided in it. */
  final void completeAsDecided() {
    complete(decided);
  }

  /**
   * Durably maps {@code key} to {@code value} (null: removes it; then nothing is written if it is
   * absent); the result is the prior value, decoded by {@code decodePrior} under the lock before
   * anything is written, or null if absent. If {@code decodePrior} throws {@link
   * CorruptValueException}, the request fails with {@link WriteFailedException}, the table
   * unchanged, the exception its cause.
   */
  static <T> WriteRequest<T> put(String key, String value, Function<String, T> decodePrior) {
    return new Put<>(key, value, decodePrior);
  }

  /**
   * Durably maps {@code key} to {@code value} if it is absent; the result is the present value
   * (decoded as in {@link #put}) or null.
   */
  static <T> WriteRequest<T> setIfAbsent(
      String key, String value, Function<String, T> decodePresent) {
    return new SetIfAbsent<>(key, value, decodePresent);
  }

  /**
   * If {@code key} maps to {@code expected} (null: absent), durably maps it to {@code update}
   * (null: removes it) and the result is true; otherwise writes nothing and the result is false.
   */
  static WriteRequest<Boolean> compareAndSet(String key, String expected, String update) {
    return new CompareAndSet(key, expected, update);
  }

  /**
   * Applies all {@code changes} (a null value removes its key; at least one) in one transaction, or
   * none of them.
   */
  static WriteRequest<Void> batch(List<Change> changes) {
    return new Batch(List.copyOf(changes));
  }

  /** A key's value before the group: the cache's, or the table's on the writer connection. */
  @FunctionalInterface
  interface Current {
    String get(String key) throws SQLException;
  }

  /** The changes of one group, over the cache: what each request sees as the current state. */
  static final class Changes {
    private final Path path;
    private final Current base;
    private final PreparedStatement upsert;
    private final PreparedStatement delete;
    private final Map<String, String> changed = new HashMap<>(); // null value: removed

    Changes(Path path, Current base, PreparedStatement upsert, PreparedStatement delete) {
      this.path = path;
      this.base = base;
      this.upsert = upsert;
      this.delete = delete;
    }

    /** What the group changed, to publish once it committed (null value: removed). */
    Map<String, String> changed() {
      return changed;
    }

    String current(String key) throws SQLException {
      return changed.containsKey(key) ? changed.get(key) : base.get(key);
    }

    /** Writes {@code value} (null: removes) under {@code key}; skips a removal of nothing. */
    void write(String key, String value) throws SQLException {
      if (value != null) {
        upsert.setString(1, key);
        upsert.setString(2, value);
        upsert.executeUpdate();
      } else {
        if (current(key) == null) {
          return;
        }
        delete.setString(1, key);
        delete.executeUpdate();
      }
      changed.put(key, value);
    }

    /**
     * Decodes a prior value under the lock, before the request writes: a value the codec cannot
     * read refuses the request with the table unchanged, instead of failing after the commit.
     */
    <T> T decodeBeforeWriting(WriteRequest<?> r, String prior, Function<String, T> decode)
        throws Refused {
      if (prior == null) {
        return null;
      }
      try {
        return decode.apply(prior);
      } catch (CorruptValueException e) {
        throw new Refused(
            new WriteFailedException(
                r.describe()
                    + " in "
                    + path
                    + " was not applied (the table is unchanged): it returns the prior value, which"
                    + " cannot be decoded: "
                    + e.getMessage(),
                e,
                false,
                false));
      }
    }
  }

  /** A request refused before it executed any statement; carries what its caller is told. */
  static final class Refused extends Exception {
    private static final long serialVersionUID = 1L;
    final transient WriteFailedException failure;

    Refused(WriteFailedException failure) {
      super(null, null, false, false);
      this.failure = failure;
    }
  }

  private static final class Put<T> extends WriteRequest<T> {
    final String key;
    final String value;
    final Function<String, T> decodePrior;

    Put(String key, String value, Function<String, T> decodePrior) {
      this.key = key;
      this.value = value;
      this.decodePrior = decodePrior;
    }

    @Override
    T apply(Changes changes) throws SQLException, Refused {
      T prior = changes.decodeBeforeWriting(this, changes.current(key), decodePrior);
      changes.write(key, value);
      return prior;
    }

    @Override
    String describe() {
      return (value == null ? "delete" : "set") + " of key " + Text.excerpt(key);
    }
  }

  private static final class CompareAndSet extends WriteRequest<Boolean> {
    final String key;
    final String expected;
    final String update;

    CompareAndSet(String key, String expected, String update) {
      this.key = key;
      this.expected = expected;
      this.update = update;
    }

    @Override
    Boolean apply(Changes changes) throws SQLException {
      if (!Objects.equals(changes.current(key), expected)) {
        return Boolean.FALSE;
      }
      if (!Objects.equals(expected, update)) {
        changes.write(key, update);
      }
      return Boolean.TRUE;
    }

    @Override
    String describe() {
      return "compareAndSet of key " + Text.excerpt(key);
    }
  }

  private static final class SetIfAbsent<T> extends WriteRequest<T> {
    final String key;
    final String value;
    final Function<String, T> decodePresent;

    SetIfAbsent(String key, String value, Function<String, T> decodePresent) {
      this.key = key;
      this.value = value;
      this.decodePresent = decodePresent;
    }

    @Override
    T apply(Changes changes) throws SQLException, Refused {
      String present = changes.current(key);
      if (present == null) {
        changes.write(key, value);
        return null;
      }
      return changes.decodeBeforeWriting(this, present, decodePresent);
    }

    @Override
    String describe() {
      return "setIfAbsent of key " + Text.excerpt(key);
    }
  }

  private static final class Batch extends WriteRequest<Void> {
    final List<Change> changes;

    Batch(List<Change> changes) {
      this.changes = changes;
    }

    @Override
    Void apply(Changes state) throws SQLException {
      for (Change c : changes) {
        state.write(c.key(), c.value());
      }
      return null;
    }

    @Override
    String describe() {
      return "batch of "
          + changes.size()
          + " changes (first key "
          + Text.excerpt(changes.get(0).key())
          + ")";
    }
  }
}
