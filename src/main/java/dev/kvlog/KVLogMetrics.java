package dev.kvlog;

import dev.kvlog.spi.Capability;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.lang.ref.WeakReference;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.WeakHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import java.util.function.ToLongFunction;

/**
 * Micrometer meters for a {@link KVLog}: {@code registry.bind(new KVLogMetrics(store, "app",
 * "orders"))}, or {@code new KVLogMetrics(store).bindTo(registry)}.
 *
 * <p>Every store gets {@code kvlog.entries} and {@code kvlog.schema.version}. A store whose backend
 * keeps statistics (SQLite) also gets the figures of {@link KVLog#stats()}: {@code
 * kvlog.database.size} and {@code kvlog.wal.size} (bytes), the function counters {@code
 * kvlog.commits}, {@code kvlog.writes}, {@code kvlog.checkpoints}, {@code kvlog.external.reloads},
 * {@code kvlog.cache.hits} and {@code kvlog.cache.misses} (counted with a bounded cache, {@link
 * KVLogBuilder#cacheSize}), the gauge {@code kvlog.commit.group.max} and the time gauge {@code
 * kvlog.commit.latency} with a {@code quantile} tag of 0.5 and 0.99. On PostgreSQL, which keeps no
 * such statistics, only the first two are bound. Every meter is tagged {@code store} with the
 * store's file, or its URL without the password, plus the caller's tags.
 *
 * <p><b>Why each reading asks the store.</b> The meters hold no figures of their own: each reading
 * calls {@link KVLog#size()}, {@link KVLog#schemaVersion()} or {@link KVLog#stats()} (a few file
 * sizes and counters, no I/O on the database), so a scrape always shows the store as it is. With a
 * bounded cache, {@code size()} counts the table's rows, reading its whole key index: the cost of
 * {@code kvlog.entries} then grows with the store. A reading that fails, because the store is
 * closed or the file cannot be examined, is reported as NaN rather than thrown into the registry,
 * which would fail the whole scrape. As is Micrometer's convention, the meters refer to the store
 * weakly: the registry does not keep a store alive, and one that was garbage collected reads NaN.
 *
 * <p><b>Binding again reads the new store.</b> Micrometer identifies a meter by its name and tags
 * and ignores a second registration of the same one, keeping the first meter and its function. So
 * the meters do not refer to the store itself but to a small holder shared by every binding with
 * the same tags to the same registry, which refers (weakly) to the store bound last: after a store
 * is closed and reopened, binding a new {@code KVLogMetrics} with the same tags to the same
 * registry makes the existing meters read the reopened store, where they would otherwise read the
 * closed one (NaN) forever. Removing and re-registering the meters instead would leave anyone
 * holding the old meter objects reading a dead one. The holders are kept per registry in a map that
 * refers to the registry weakly; one holder (a few dozen bytes) per set of tags lives as long as
 * its registry. Two open stores bound with the same tags (two instances on one PostgreSQL URL, say)
 * share the meters, which read the one bound last.
 *
 * <p>Micrometer is an optional dependency of KVLog; this is the one class that uses it, and it is
 * loaded only when an application creates it. Thread-safe: binding and every reading may happen on
 * any thread.
 */
public final class KVLogMetrics implements MeterBinder {
  /** Per registry (weakly), per tags: what those meters read. Guarded by itself. */
  private static final Map<MeterRegistry, Map<Tags, Bound>> BOUND = new WeakHashMap<>();

  private final KVLog<?, ?> store;
  private final Tags tags;

  /**
   * Meters for {@code store}, with extra tags given as key/value pairs.
   *
   * @param store the store to report; held weakly by the meters
   * @param tags extra tags as key, value, key, value...
   * @throws IllegalArgumentException if {@code tags} has an odd number of elements
   */
  public KVLogMetrics(KVLog<?, ?> store, String... tags) {
    this(store, Tags.of(tags));
  }

  /**
   * Meters for {@code store}, with extra tags.
   *
   * @param store the store to report; held weakly by the meters
   * @param tags extra tags
   */
  public KVLogMetrics(KVLog<?, ?> store, Iterable<Tag> tags) {
    this.store = Objects.requireNonNull(store, "store");
    this.tags = Tags.of("store", store.where()).and(Objects.requireNonNull(tags, "tags"));
  }

  /**
   * Registers the meters, or, if meters with these tags are already registered in {@code registry}
   * (by an earlier binding, say of the store before it was closed and reopened), makes them read
   * this binding's store.
   *
   * @param registry the registry to register the meters with
   */
  @Override
  public void bindTo(MeterRegistry registry) {
    Bound bound;
    synchronized (BOUND) {
      bound =
          BOUND
              .computeIfAbsent(registry, r -> new HashMap<>())
              .computeIfAbsent(tags, t -> new Bound());
      bound.store = new WeakReference<>(store);
    }
    gauge(registry, bound, "kvlog.entries", "keys in the store", null, KVLog::size);
    gauge(
        registry,
        bound,
        "kvlog.schema.version",
        "schema version recorded in the store",
        null,
        KVLog::schemaVersion);
    if (!store.capabilities().contains(Capability.STATS)) {
      return;
    }
    gauge(
        registry,
        bound,
        "kvlog.database.size",
        "size of the database file",
        BaseUnits.BYTES,
        s -> s.stats().databaseBytes());
    gauge(
        registry,
        bound,
        "kvlog.wal.size",
        "size of the write-ahead log",
        BaseUnits.BYTES,
        s -> s.stats().walBytes());
    gauge(
        registry,
        bound,
        "kvlog.commit.group.max",
        "the most writes committed in one transaction",
        null,
        s -> s.stats().largestGroup());
    counter(registry, bound, "kvlog.commits", "transactions committed", s -> s.stats().commits());
    counter(registry, bound, "kvlog.writes", "write operations committed", s -> s.stats().writes());
    counter(
        registry,
        bound,
        "kvlog.checkpoints",
        "WAL checkpoint passes run",
        s -> s.stats().checkpoints());
    counter(
        registry,
        bound,
        "kvlog.external.reloads",
        "cache reloads after another connection changed the table",
        s -> s.stats().externalReloads());
    counter(
        registry,
        bound,
        "kvlog.cache.hits",
        "gets answered from a bounded cache (0 with the whole table cached)",
        s -> s.stats().cacheHits());
    counter(
        registry,
        bound,
        "kvlog.cache.misses",
        "gets that read the database (0 with the whole table cached)",
        s -> s.stats().cacheMisses());
    latency(registry, bound, "0.5", s -> s.stats().commitP50Micros());
    latency(registry, bound, "0.99", s -> s.stats().commitP99Micros());
  }

  private void gauge(
      MeterRegistry registry,
      Bound bound,
      String name,
      String description,
      String unit,
      ToLongFunction<KVLog<?, ?>> figure) {
    Gauge.builder(name, bound, reading(figure))
        .description(description)
        .baseUnit(unit)
        .tags(tags)
        .register(registry);
  }

  private void counter(
      MeterRegistry registry,
      Bound bound,
      String name,
      String description,
      ToLongFunction<KVLog<?, ?>> figure) {
    FunctionCounter.builder(name, bound, reading(figure))
        .description(description)
        .tags(tags)
        .register(registry);
  }

  private void latency(
      MeterRegistry registry, Bound bound, String quantile, ToLongFunction<KVLog<?, ?>> micros) {
    TimeGauge.builder("kvlog.commit.latency", bound, TimeUnit.MICROSECONDS, reading(micros))
        .description(
            "commit latency, BEGIN to durable COMMIT, bucket upper bound (at most 25% above)")
        .tags(tags)
        .tag("quantile", quantile)
        .register(registry);
  }

  /**
   * A figure as a meter reads it: NaN, never an exception, if the store cannot answer or is gone.
   */
  private static ToDoubleFunction<Bound> reading(ToLongFunction<KVLog<?, ?>> figure) {
    return b -> {
      KVLog<?, ?> s = b.store.get();
      if (s == null) {
        return Double.NaN;
      }
      try {
        return figure.applyAsLong(s);
      } catch (RuntimeException e) {
        return Double.NaN;
      }
    };
  }

  /**
   * What the meters of one (registry, tags) pair read: the store bound last, held weakly so that
   * the registry never keeps a store alive. Holds no reference to the registry (it is a value of a
   * map whose keys are weak). Thread-safe: written under {@link #BOUND}, read by any thread.
   */
  private static final class Bound {
    volatile WeakReference<KVLog<?, ?>> store = new WeakReference<>(null);
  }
}
