package dev.kvlog.sqlite;

import dev.kvlog.KVLog;
import dev.kvlog.WriteBatch;
import java.lang.invoke.VarHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cache alone, without facade or store: the previous layout (a {@code ConcurrentHashMap} under
 * the same seqlock) against {@link WarmCache} in the same run, at 100k and 1M entries of 16-byte
 * keys and 100-byte values. Lookup keys are distinct String instances equal to the stored ones, as
 * after a load from disk ({@code identical=true}: the stored instances, as after the caller's own
 * writes). {@code constant} is the cost of picking a random key; {@code warmCacheSipHash} is the
 * table after a hash flood switched it to a seeded content hash.
 *
 * <p>Run: {@code mvn -Pbench -DskipTests test-compile exec:exec -Dbench.main=org.openjdk.jmh.Main
 * -Djmh.args="CacheGet -f 1"} (add {@code -t 2} for two threads)
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 1, time = 2)
@Measurement(iterations = 3, time = 2)
@State(Scope.Benchmark)
public class CacheGetBenchmark {
  @Param({"100000", "1000000"})
  int entries;

  @Param({"false"})
  boolean identical;

  String[] lookups;
  WarmCache cache;
  WarmCache sipHash;
  ChmCache chm;
  Path dir;
  KVLog<String, String> store;

  @Setup
  public void fill() throws Exception {
    Map<String, String> data = new HashMap<>();
    lookups = new String[entries];
    for (int i = 0; i < entries; i++) {
      String k = String.format("key-%011d", i);
      data.put(k, (i + "v").repeat(100).substring(0, 100));
      lookups[i] = identical ? k : new String(k.toCharArray());
    }
    cache = WarmCache.of(data);
    sipHash = WarmCache.of(data);
    sipHash.table().switchToSeeded();
    chm = new ChmCache(new ConcurrentHashMap<>(data));
    dir = Files.createTempDirectory("cache-bench-");
    try (KVLog<String, String> fill = KVLog.open(dir.resolve("kv.db"))) {
      WriteBatch<String, String> batch = new WriteBatch<>();
      data.forEach(batch::set);
      fill.write(batch);
    }
    store = KVLog.open(dir.resolve("kv.db")); // loaded from disk: keys are not the lookup instances
    data = null;
    System.gc();
  }

  @TearDown
  public void close() throws Exception {
    store.close();
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  @Benchmark
  public Object facade() {
    return store.get(lookups[ThreadLocalRandom.current().nextInt(entries)]).orElse(null);
  }

  @Benchmark
  public Object constant() {
    return lookups[ThreadLocalRandom.current().nextInt(entries)];
  }

  @Benchmark
  public Object chmSeqlock() {
    return chm.get(lookups[ThreadLocalRandom.current().nextInt(entries)]);
  }

  @Benchmark
  public Object warmCache() {
    return cache.get(lookups[ThreadLocalRandom.current().nextInt(entries)]);
  }

  /**
   * The table as a flood leaves it: SipHash-1-3 of the key's content under a random key instead of
   * the String's cached hashCode (were it always so, the flood defence would need no switch).
   */
  @Benchmark
  public Object warmCacheSipHash() {
    return sipHash.get(lookups[ThreadLocalRandom.current().nextInt(entries)]);
  }

  /** The previous WarmCache's read path, verbatim. */
  static final class ChmCache {
    final ConcurrentHashMap<String, String> map;
    volatile long seq;

    ChmCache(ConcurrentHashMap<String, String> map) {
      this.map = map;
    }

    String get(String key) {
      long s = seq;
      String value = map.get(key);
      VarHandle.loadLoadFence();
      return seq == s && (s & 1) == 0 ? value : null;
    }
  }
}
