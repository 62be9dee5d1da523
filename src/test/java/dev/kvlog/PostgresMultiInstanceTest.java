package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Several instances on one PostgreSQL store: writes decided by the database, caches converge. */
class PostgresMultiInstanceTest {
  @TempDir Path dir;
  @RegisterExtension final PostgresSchema schema = new PostgresSchema();

  static void increment(KVStore<String, String> store) {
    for (; ; ) {
      Optional<String> seen = store.get("counter");
      String next = Long.toString(seen.map(Long::parseLong).orElse(0L) + 1);
      if (store.compareAndSet("counter", seen.orElse(null), next)) {
        return;
      }
    }
  }

  /**
   * Two instances increment one counter with compare-and-set from 4 threads each. A CAS decided
   * against a stale cache instead of the table would let two increments claim the same value.
   */
  @Test
  void twoInstances_casCounterEndsExact_andCachesConverge() throws Exception {
    int perThread = 25;
    try (KVLog<String, String> a = KVLog.builder(schema.url()).open();
        KVLog<String, String> b = KVLog.builder(schema.url()).open()) {
      ExecutorService pool = Executors.newFixedThreadPool(8);
      List<Future<?>> tasks = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        KVStore<String, String> store = t % 2 == 0 ? a : b;
        tasks.add(
            pool.submit(
                () -> {
                  for (int i = 0; i < perThread; i++) {
                    increment(store);
                  }
                  return null;
                }));
      }
      for (Future<?> f : tasks) {
        f.get(120, TimeUnit.SECONDS);
      }
      pool.shutdown();
      String expected = Integer.toString(8 * perThread);
      awaitValue(a, "counter", expected);
      awaitValue(b, "counter", expected);

      // A write on one instance reaches the other's cache; each reads its own writes at once.
      for (int i = 0; i < 50; i++) {
        a.set("from-a", "a" + i);
        assertThat(a.get("from-a")).contains("a" + i);
        b.set("from-b", "b" + i);
        assertThat(b.get("from-b")).contains("b" + i);
      }
      awaitValue(b, "from-a", "a49");
      awaitValue(a, "from-b", "b49");
      b.delete("from-a");
      awaitValue(a, "from-a", null);
    }
  }

  /** Within the documented bound (100 ms poll plus a round trip), with a wide margin for CI. */
  static void awaitValue(KVStore<String, String> store, String key, String value)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!store.get(key).equals(Optional.ofNullable(value)) && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(store.get(key)).as("%s in %s", key, store).isEqualTo(Optional.ofNullable(value));
  }

  /**
   * The crash variant, in two JVMs: a child instance increments and acknowledges each increment to
   * a file; it is killed; this JVM's instance keeps incrementing meanwhile. The counter must hold
   * every acknowledged increment of both (plus at most the child's one in flight).
   */
  @Test
  void killedInstance_losesNoAcknowledgedIncrement() throws Exception {
    Path acks = dir.resolve("acks");
    Process child = ChildJvm.start(CounterChild.class, schema.url(), acks.toString());
    BufferedReader out =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
    assertThat(out.readLine()).isEqualTo("READY");
    int mine = 0;
    try (KVLog<String, String> store = KVLog.builder(schema.url()).open()) {
      // At least 800 ms, and until the child has acknowledged some increments too: CAS is not
      // fair, and an instance that pauses 1 ms between increments leaves the other room.
      long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(800);
      long cap = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (System.nanoTime() < until || (Files.size(acks) < 40 && System.nanoTime() < cap)) {
        increment(store);
        mine++;
        Thread.sleep(1);
      }
      child.destroyForcibly();
      assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
      int theirs = Files.readAllLines(acks).size();
      assertThat(theirs).as("the child acknowledged increments").isPositive();
      long counter;
      try (KVLog<String, String> fresh = KVLog.builder(schema.url()).open()) {
        counter = fresh.get("counter").map(Long::parseLong).orElse(0L); // loaded from the table
      }
      assertThat(counter).isBetween((long) mine + theirs, (long) mine + theirs + 1);
      TortureSummary.record(
          "PostgreSQL: instance killed mid-CAS, other instance going on", 1, mine + theirs, 0);
    }
  }

  /** The child of {@link #killedInstance_losesNoAcknowledgedIncrement}. */
  static final class CounterChild {
    public static void main(String[] args) throws Exception {
      KVLog<String, String> store = KVLog.builder(args[0]).open();
      try (FileOutputStream acks = new FileOutputStream(args[1])) {
        System.out.println("READY");
        System.out.flush();
        for (int n = 0; ; n++) {
          increment(store);
          acks.write((n + "\n").getBytes(StandardCharsets.US_ASCII));
        }
      }
    }
  }
}
