package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@link KVLogMetrics} on both backends, read through Micrometer's SimpleMeterRegistry. */
class KVLogMetricsTest {
  @TempDir Path dir;
  @RegisterExtension final PostgresSchema schema = new PostgresSchema();

  private static double gauge(MeterRegistry r, String name) {
    return r.get(name).gauge().value();
  }

  private static double counter(MeterRegistry r, String name) {
    return r.get(name).functionCounter().count();
  }

  @Test
  void sqlite_figuresMoveAfterWrites_taggedWithTheFile() {
    MeterRegistry registry = new SimpleMeterRegistry();
    try (KVLog<String, String> store = KVLog.open(dir.resolve("kv.db"))) {
      new KVLogMetrics(store, "app", "orders").bindTo(registry);
      for (Meter m : registry.getMeters()) {
        assertThat(m.getId().getTag("store"))
            .as(m.getId().getName())
            .isEqualTo(store.path().toString());
        assertThat(m.getId().getTag("app")).as(m.getId().getName()).isEqualTo("orders");
      }
      assertThat(registry.getMeters())
          .extracting(m -> m.getId().getName())
          .contains(
              "kvlog.entries",
              "kvlog.schema.version",
              "kvlog.database.size",
              "kvlog.wal.size",
              "kvlog.commits",
              "kvlog.writes",
              "kvlog.commit.group.max",
              "kvlog.commit.latency",
              "kvlog.checkpoints",
              "kvlog.external.reloads");
      assertThat(gauge(registry, "kvlog.entries")).isZero();
      assertThat(gauge(registry, "kvlog.schema.version")).isEqualTo(store.schemaVersion());
      double commitsBefore = counter(registry, "kvlog.commits");
      double writesBefore = counter(registry, "kvlog.writes");
      double walBefore = gauge(registry, "kvlog.wal.size");

      for (int i = 0; i < 20; i++) {
        store.set("k" + i, "v".repeat(1000));
      }
      store.write(new WriteBatch<String, String>().set("a", "1").set("b", "2").delete("k0"));

      assertThat(gauge(registry, "kvlog.entries")).isEqualTo(21);
      assertThat(counter(registry, "kvlog.commits")).isEqualTo(commitsBefore + 21);
      assertThat(counter(registry, "kvlog.writes")).isGreaterThanOrEqualTo(writesBefore + 21);
      assertThat(gauge(registry, "kvlog.wal.size")).isGreaterThan(walBefore);
      assertThat(gauge(registry, "kvlog.database.size")).isPositive();
      assertThat(gauge(registry, "kvlog.commit.group.max")).isGreaterThanOrEqualTo(1);
      KVLogStats stats = store.stats();
      TimeGauge p50 = registry.get("kvlog.commit.latency").tag("quantile", "0.5").timeGauge();
      TimeGauge p99 = registry.get("kvlog.commit.latency").tag("quantile", "0.99").timeGauge();
      assertThat(p50.value(TimeUnit.MICROSECONDS))
          .isCloseTo(stats.commitP50Micros(), within(0.001))
          .isPositive();
      assertThat(p99.value(TimeUnit.MICROSECONDS))
          .isCloseTo(stats.commitP99Micros(), within(0.001))
          .isGreaterThanOrEqualTo(p50.value(TimeUnit.MICROSECONDS));
      assertThat(counter(registry, "kvlog.checkpoints")).isEqualTo(stats.checkpoints());
      assertThat(counter(registry, "kvlog.external.reloads")).isEqualTo(stats.externalReloads());
    }
  }

  @Test
  void closedStore_readsNaN_neverThrowsIntoTheRegistry() {
    MeterRegistry registry = new SimpleMeterRegistry();
    KVLog<String, String> store = KVLog.open(dir.resolve("kv.db"));
    registry.gaugeCollectionSize("other", List.of(), List.of());
    new KVLogMetrics(store).bindTo(registry);
    store.set("k", "v");
    store.close();
    for (Meter m : registry.getMeters()) {
      if (!m.getId().getName().startsWith("kvlog.")) {
        continue;
      }
      for (var measurement : m.measure()) {
        assertThat(measurement.getValue()).as(m.getId().toString()).isNaN();
      }
    }
    assertThat(registry.getMeters()).hasSizeGreaterThan(10);
  }

  /**
   * Micrometer ignores a second registration of a meter with the same name and tags: binding the
   * reopened store must still make the meters read it, not the closed one (NaN forever).
   */
  @Test
  void sqlite_bindingAgainAfterReopen_readsTheNewStore() {
    MeterRegistry registry = new SimpleMeterRegistry();
    Path file = dir.resolve("kv.db");
    try (KVLog<String, String> first = KVLog.open(file)) {
      new KVLogMetrics(first, "app", "orders").bindTo(registry);
      first.set("a", "1");
      assertThat(gauge(registry, "kvlog.entries")).isEqualTo(1);
    }
    assertThat(gauge(registry, "kvlog.entries")).isNaN();
    int meters = registry.getMeters().size();
    try (KVLog<String, String> second = KVLog.open(file)) {
      new KVLogMetrics(second, "app", "orders").bindTo(registry);
      assertThat(registry.getMeters()).as("the same meters, not new ones").hasSize(meters);
      second.set("b", "2");
      second.set("c", "3");
      assertThat(gauge(registry, "kvlog.entries")).isEqualTo(3);
      assertThat(gauge(registry, "kvlog.schema.version")).isEqualTo(second.schemaVersion());
      KVLogStats stats = second.stats();
      assertThat(counter(registry, "kvlog.commits")).isEqualTo(stats.commits());
      assertThat(gauge(registry, "kvlog.database.size")).isEqualTo(stats.databaseBytes());
      assertThat(
              registry
                  .get("kvlog.commit.latency")
                  .tag("quantile", "0.5")
                  .timeGauge()
                  .value(TimeUnit.MICROSECONDS))
          .isCloseTo(stats.commitP50Micros(), within(0.001));
    }
    // Other tags are other meters: binding them leaves these alone.
    try (KVLog<String, String> third = KVLog.open(file)) {
      new KVLogMetrics(third, "app", "billing").bindTo(registry);
      assertThat(registry.get("kvlog.entries").tag("app", "billing").gauge().value()).isEqualTo(3);
      assertThat(registry.get("kvlog.entries").tag("app", "orders").gauge().value()).isNaN();
    }
  }

  @Test
  void postgres_bindingAgainAfterReopen_readsTheNewStore() {
    MeterRegistry registry = new SimpleMeterRegistry();
    try (KVLog<String, String> first = KVLog.connect(schema.url())) {
      new KVLogMetrics(first).bindTo(registry);
      first.set("a", "1");
    }
    assertThat(gauge(registry, "kvlog.entries")).isNaN();
    try (KVLog<String, String> second = KVLog.connect(schema.url())) {
      new KVLogMetrics(second).bindTo(registry);
      second.set("b", "2");
      assertThat(gauge(registry, "kvlog.entries")).isEqualTo(2);
      assertThat(gauge(registry, "kvlog.schema.version")).isEqualTo(second.schemaVersion());
    }
  }

  @Test
  void postgres_bindsWhatTheFacadeOffers_taggedWithoutPassword() {
    MeterRegistry registry = new SimpleMeterRegistry();
    String url = schema.url() + "&password=hunter2-secret";
    try (KVLog<String, String> store = KVLog.connect(url)) {
      new KVLogMetrics(store, List.of()).bindTo(registry);
      assertThat(registry.getMeters())
          .extracting(m -> m.getId().getName())
          .containsExactlyInAnyOrder("kvlog.entries", "kvlog.schema.version");
      Gauge entries = registry.get("kvlog.entries").gauge();
      assertThat(entries.getId().getTag("store"))
          .contains("127.0.0.1")
          .doesNotContain("hunter2-secret");
      assertThat(entries.value()).isZero();
      store.set("a", "1");
      store.set("b", "2");
      assertThat(entries.value()).isEqualTo(2);
      assertThat(gauge(registry, "kvlog.schema.version")).isEqualTo(store.schemaVersion());
    }
    assertThat(gauge(registry, "kvlog.entries")).isNaN();
    assertThat(gauge(registry, "kvlog.schema.version")).isNaN();
  }

  @Test
  void oddTags_areRefused() {
    try (KVLog<String, String> store = KVLog.open(dir.resolve("kv.db"))) {
      assertThatThrownBy(() -> new KVLogMetrics(store, "app"))
          .isInstanceOf(IllegalArgumentException.class);
    }
  }

  /** Only KVLogMetrics may use Micrometer: it is an optional dependency. */
  @Test
  void noOtherFacadeClass_referencesMicrometer() throws Exception {
    try (var files = java.nio.file.Files.list(Path.of("src/main/java/dev/kvlog"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        if (f.getFileName().toString().equals("KVLogMetrics.java")) {
          continue;
        }
        assertThat(java.nio.file.Files.readString(f)).as(f.toString()).doesNotContain("micrometer");
      }
    }
  }

  /** Micrometer is optional: without it on the class path a store opens and works. */
  @Test
  void withoutMicrometer_aStoreOpensAndWorks() throws Exception {
    String classPath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<URL> urls = new ArrayList<>();
    for (String entry : classPath.split(File.pathSeparator)) {
      if (!entry.contains("micrometer")) {
        urls.add(Path.of(entry).toUri().toURL());
      }
    }
    assumeTrue(urls.size() > 2, "the test class path is not visible here: " + classPath);
    try (URLClassLoader noMicrometer =
        new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getPlatformClassLoader())) {
      assertThatThrownBy(() -> noMicrometer.loadClass("io.micrometer.core.instrument.Meter"))
          .isInstanceOf(ClassNotFoundException.class);
      // DriverManager hands a loader only drivers it loaded: register this loader's own copy.
      Class.forName("org.sqlite.JDBC", true, noMicrometer);
      Class<?> kvlog = noMicrometer.loadClass("dev.kvlog.KVLog");
      assertThat(kvlog).isNotSameAs(KVLog.class);
      Object store = kvlog.getMethod("open", Path.class).invoke(null, dir.resolve("plain.db"));
      try {
        kvlog.getMethod("set", Object.class, Object.class).invoke(store, "k", "v");
        assertThat(kvlog.getMethod("get", Object.class).invoke(store, "k"))
            .isEqualTo(Optional.of("v"));
        assertThat(kvlog.getMethod("stats").invoke(store)).isNotNull();
      } finally {
        kvlog.getMethod("close").invoke(store);
      }
    }
  }
}
