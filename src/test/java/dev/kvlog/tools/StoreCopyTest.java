package dev.kvlog.tools;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kvlog.KVLog;
import dev.kvlog.KVStore;
import dev.kvlog.StoreLockedException;
import dev.kvlog.StoreOpenException;
import dev.kvlog.WriteBatch;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The copy behind {@code kvlog copy}: what it copies, what its verification catches, refusals. */
class StoreCopyTest {
  @TempDir Path dir;

  /** A store at {@code name} holding {@code n} entries (some non-ASCII), and what it holds. */
  private Map<String, String> storeWith(String name, int n) {
    Map<String, String> data = new TreeMap<>();
    try (KVLog<String, String> store = KVLog.open(dir.resolve(name))) {
      WriteBatch<String, String> batch = new WriteBatch<>();
      for (int i = 0; i < n; i++) {
        String k = "key-" + i + (i % 7 == 0 ? "-ünï\uD83D\uDE00" : "");
        String v = "value " + i + " " + "x".repeat(i % 50);
        batch.set(k, v);
        data.put(k, v);
      }
      store.write(batch);
    }
    return data;
  }

  private static Map<String, String> contents(Path file) {
    Map<String, String> all = new TreeMap<>();
    try (Source s = Source.sqlite(file)) {
      s.forEach(null, null, all::put);
    }
    return all;
  }

  @Test
  void copiesEveryEntryInBatches_verifies_andLeavesTargetOnlyKeysAlone() {
    Map<String, String> data = storeWith("from.db", 2 * StoreCopy.BATCH + 500);
    Path to = dir.resolve("to.db");
    try (KVLog<String, String> target = KVLog.open(to)) {
      target.set("only-in-target", "kept");
      target.set("key-1", "overwritten by the copy");
    }
    List<Long> steps = new ArrayList<>();
    StoreCopy.Report report;
    try (StoreCopy copy =
        StoreCopy.open(Location.file(dir.resolve("from.db")), Location.file(to))) {
      assertThat(copy.sourceEntries()).isEqualTo(data.size());
      report = copy.run(steps::add);
    }
    assertThat(report.copied()).isEqualTo(data.size());
    assertThat(report.differing()).isZero();
    assertThat(report.verified()).isTrue();
    assertThat(report.targetSha256()).isEqualTo(report.sourceSha256()).hasSize(64);
    assertThat(steps).containsExactly(1000L, 1000L, 500L);

    Map<String, String> expected = new TreeMap<>(data);
    expected.put("only-in-target", "kept");
    assertThat(contents(to)).isEqualTo(expected);

    StoreCopy.Report again;
    try (StoreCopy copy =
        StoreCopy.open(Location.file(dir.resolve("from.db")), Location.file(to))) {
      again = copy.run(n -> {});
    }
    assertThat(again).as("a re-run is safe and finds the same").isEqualTo(report);
  }

  @Test
  void anEmptySource_copiesNothing_andVerifies() {
    storeWith("empty.db", 0);
    try (StoreCopy copy =
        StoreCopy.open(
            Location.file(dir.resolve("empty.db")), Location.file(dir.resolve("t.db")))) {
      StoreCopy.Report report = copy.run(n -> {});
      assertThat(report.copied()).isZero();
      assertThat(report.verified()).isTrue();
    }
  }

  @Test
  void readsASourceThatAnotherHandleOwnsAndWrites() {
    Map<String, String> data = storeWith("live.db", 10);
    try (KVLog<String, String> owner = KVLog.open(dir.resolve("live.db"));
        StoreCopy copy =
            StoreCopy.open(
                Location.file(dir.resolve("live.db")), Location.file(dir.resolve("t.db")))) {
      owner.set("key-1", "changed before the copy");
      data.put("key-1", "changed before the copy");
      StoreCopy.Report report = copy.run(n -> {});
      assertThat(report.verified()).isTrue();
      assertThat(report.copied()).isEqualTo(10);
    }
    assertThat(contents(dir.resolve("t.db"))).isEqualTo(data);
  }

  /**
   * The target seen through another writer: after each batch is written, {@code meddle} changes the
   * real target, as another process would between the copy's write and its read-back.
   */
  @SuppressWarnings("unchecked")
  private static KVStore<String, String> meddled(
      KVStore<String, String> real, Consumer<KVStore<String, String>> meddle) {
    return (KVStore<String, String>)
        Proxy.newProxyInstance(
            KVStore.class.getClassLoader(),
            new Class<?>[] {KVStore.class},
            (proxy, method, args) -> {
              Object result;
              try {
                result = method.invoke(real, args);
              } catch (InvocationTargetException e) {
                throw e.getCause();
              }
              if (method.getName().equals("write")) {
                meddle.accept(real);
              }
              return result;
            });
  }

  @Test
  void verificationFindsAValueAnotherWriterChanged() {
    TreeMap<String, String> data = new TreeMap<>(storeWith("from.db", 1500));
    String inLastBatch = data.lastKey();
    AtomicLong writes = new AtomicLong();
    try (Source source = Source.sqlite(dir.resolve("from.db"));
        KVLog<String, String> real = KVLog.open(dir.resolve("to.db"));
        StoreCopy copy =
            new StoreCopy(
                source,
                meddled(
                    real,
                    t -> {
                      if (writes.incrementAndGet() == 2) {
                        t.set(inLastBatch, "another writer's");
                      }
                    }))) {
      StoreCopy.Report report = copy.run(n -> {});
      assertThat(report.copied()).isEqualTo(1500);
      assertThat(report.differing()).isEqualTo(1);
      assertThat(report.verified()).isFalse();
      assertThat(report.targetSha256()).isNotEqualTo(report.sourceSha256());
    }
  }

  @Test
  void verificationFindsAnEntryAnotherWriterDeleted() {
    storeWith("from.db", 20);
    try (Source source = Source.sqlite(dir.resolve("from.db"));
        KVLog<String, String> real = KVLog.open(dir.resolve("to.db"));
        StoreCopy copy =
            new StoreCopy(
                source,
                meddled(
                    real,
                    t -> {
                      t.delete("key-3");
                      t.delete("key-4");
                    }))) {
      StoreCopy.Report report = copy.run(n -> {});
      assertThat(report.differing()).isEqualTo(2);
      assertThat(report.verified()).isFalse();
    }
  }

  @Test
  void refusesACopyOntoItself_beforeOpeningAnything() {
    Path missing = dir.resolve("kv.db");
    Location a = Location.file(missing);
    Location b = Location.file(dir.resolve("sub/../kv.db"));
    assertThatThrownBy(() -> StoreCopy.open(a, b))
        .isInstanceOf(StoreCopy.SameStoreException.class)
        .hasMessageContaining("both the source and the target");
    assertThat(missing).doesNotExist();
    assertThat(dir).isEmptyDirectory();

    Location pg = Location.postgres("jdbc:postgresql://db/app?user=u&password=s3cret");
    assertThatThrownBy(() -> StoreCopy.open(pg, Location.postgres(pg.postgresUrl())))
        .isInstanceOf(StoreCopy.SameStoreException.class)
        .hasMessageNotContaining("s3cret");
    assertThat(a.sameStoreAs(pg)).isFalse();
    assertThat(pg.sameStoreAs(Location.postgres(pg.postgresUrl() + "&x=1"))).isFalse();
  }

  @Test
  void refusesAMissingSource_andCreatesNoTarget() {
    Path target = dir.resolve("t.db");
    assertThatThrownBy(
            () -> StoreCopy.open(Location.file(dir.resolve("none.db")), Location.file(target)))
        .isInstanceOf(StoreOpenException.class);
    assertThat(dir.resolve("none.db")).doesNotExist();
    assertThat(target).doesNotExist();
  }

  @Test
  void refusesATargetAnotherOwnerHolds_andWritesNothing() {
    storeWith("from.db", 5);
    Path to = dir.resolve("to.db");
    try (KVLog<String, String> owner = KVLog.open(to)) {
      assertThatThrownBy(
              () -> StoreCopy.open(Location.file(dir.resolve("from.db")), Location.file(to)))
          .isInstanceOf(StoreLockedException.class);
      assertThat(owner.size()).isZero();
    }
    // The source was closed again: the copy can be made once the owner is gone.
    try (StoreCopy copy =
        StoreCopy.open(Location.file(dir.resolve("from.db")), Location.file(to))) {
      assertThat(copy.run(n -> {}).verified()).isTrue();
    }
  }

  @Test
  void aLocationIsAFileOrAUrl_andShowsNoSecret() {
    assertThatThrownBy(() -> new Location(dir, "jdbc:postgresql://db/app"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new Location(null, null)).isInstanceOf(IllegalArgumentException.class);
    assertThat(Location.postgres("jdbc:postgresql://db/app?user=u&password=s3cret").display())
        .doesNotContain("s3cret")
        .startsWith("jdbc:postgresql://db/app");
    assertThat(Location.file(Path.of("a.db")).display()).isEqualTo("a.db");
  }
}
