package dev.kvlog.sqlite;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of the write path, cheap enough to update on every commit: a handful of adders and a
 * log-linear latency histogram (4 buckets per power of two; a percentile is reported as its
 * bucket's upper bound, at most 25% above the true value: 1,024 us reads 1,279), which is all
 * {@code stats()} needs without a metrics dependency.
 */
public final class CommitStats {
  private static final int SUB_BUCKETS = 4;
  private static final int BUCKETS = 64 * SUB_BUCKETS;

  private final LongAdder commits = new LongAdder();
  private final LongAdder operations = new LongAdder();
  private final LongAccumulator largestGroup = new LongAccumulator(Math::max, 0);
  private final LongAdder checkpoints = new LongAdder();
  private final LongAdder externalReloads = new LongAdder();
  private final AtomicLongArray latency = new AtomicLongArray(BUCKETS); // microseconds

  void recordCommit(int groupSize, long nanos) {
    commits.increment();
    operations.add(groupSize);
    largestGroup.accumulate(groupSize);
    latency.incrementAndGet(bucket(Math.max(1, nanos / 1000)));
  }

  void recordCheckpoint() {
    checkpoints.increment();
  }

  void recordExternalReload() {
    externalReloads.increment();
  }

  public long commits() {
    return commits.sum();
  }

  public long operations() {
    return operations.sum();
  }

  public long largestGroup() {
    return largestGroup.get();
  }

  public long checkpoints() {
    return checkpoints.sum();
  }

  public long externalReloads() {
    return externalReloads.sum();
  }

  /**
   * The commit latency (leader's BEGIN to COMMIT, including the fsync) at {@code quantile}, in
   * microseconds: the upper bound of the bucket holding it; 0 if nothing was committed.
   */
  public long latencyMicros(double quantile) {
    long total = 0;
    long[] counts = new long[BUCKETS];
    for (int i = 0; i < BUCKETS; i++) {
      counts[i] = latency.get(i);
      total += counts[i];
    }
    if (total == 0) {
      return 0;
    }
    long rank = (long) Math.ceil(quantile * total);
    long seen = 0;
    for (int i = 0; i < BUCKETS; i++) {
      seen += counts[i];
      if (seen >= Math.max(1, rank)) {
        return upperBound(i);
      }
    }
    return upperBound(BUCKETS - 1);
  }

  static int bucket(long micros) {
    int exponent = 63 - Long.numberOfLeadingZeros(micros); // micros >= 1
    if (exponent < 2) {
      return (int) micros; // 1, 2, 3 exactly
    }
    int sub = (int) ((micros >>> (exponent - 2)) & (SUB_BUCKETS - 1));
    return exponent * SUB_BUCKETS + sub;
  }

  static long upperBound(int bucket) {
    if (bucket < 2 * SUB_BUCKETS) {
      return bucket;
    }
    int exponent = bucket / SUB_BUCKETS;
    long sub = bucket % SUB_BUCKETS;
    return ((SUB_BUCKETS + sub + 1) << (exponent - 2)) - 1;
  }
}
