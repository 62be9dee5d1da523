package dev.kvlog.bench;

import java.util.SplittableRandom;

/**
 * Zipfian key indexes with the hot keys spread over the key space: YCSB's {@code
 * ScrambledZipfianGenerator} (github.com/brianfrankcooper/YCSB, {@code
 * core/src/main/java/site/ycsb/generator/ScrambledZipfianGenerator.java} and {@code
 * ZipfianGenerator.java}, Apache-2.0), re-implemented here.
 *
 * <p>The algorithm is Gray et al., "Quickly Generating Billion-Record Synthetic Databases" (SIGMOD
 * 1994), as YCSB's {@code ZipfianGenerator.nextLong} codes it: draw a Zipfian rank over {@link
 * #ITEMS} = 10^10 items with θ = 0.99, whose zeta constant is precomputed ({@link #ZETAN}); then
 * scatter the rank over {@code [0, n)} with the 64-bit FNV hash YCSB uses ({@code Utils.fnvhash64})
 * modulo {@code n}. Rank 0 (about 1 draw in {@code ZETAN}, 3.8%) lands on one pseudo-random key,
 * rank 1 on another, and so on, so the hot set is not a run of adjacent keys (and not adjacent
 * blocks in an LSM or B-tree file).
 *
 * <p>One difference from YCSB's current source: it draws over 10^16 items but keeps the zeta
 * constant computed for 10^10 (26.469…; zeta(10^16, 0.99) is about 45), so its head is slightly
 * heavier than θ = 0.99 implies. This class keeps the consistent pair that YCSB shipped first
 * (10^10 items, 26.469…).
 *
 * <p>Not thread-safe: one instance per thread, each with its own seeded random source, so two
 * engines given the same seeds see the same key sequence.
 */
final class ScrambledZipfian {
  static final double THETA = 0.99;
  static final long ITEMS = 10_000_000_000L;

  /** zeta(10^10, 0.99) = sum of 1 / i^0.99 for i in 1..10^10, as YCSB precomputes it. */
  static final double ZETAN = 26.46902820178302;

  private static final double ALPHA = 1.0 / (1.0 - THETA);
  private static final double ZETA2 = 1.0 + Math.pow(2, -THETA); // zeta(2, θ)
  private static final double ETA = (1 - Math.pow(2.0 / ITEMS, 1 - THETA)) / (1 - ZETA2 / ZETAN);
  private static final double HALF_POW_THETA = Math.pow(0.5, THETA);

  private final long n;
  private final SplittableRandom random;

  ScrambledZipfian(long n, long seed) {
    if (n <= 0) {
      throw new IllegalArgumentException("n must be positive, was " + n);
    }
    this.n = n;
    this.random = new SplittableRandom(seed);
  }

  /** The next key index, in {@code [0, n)}. */
  long next() {
    // YCSB: Math.abs(hash) % n; floorMod keeps Math.abs(Long.MIN_VALUE) in range too.
    return Math.floorMod(Math.abs(fnvhash64(rank())), n);
  }

  /** A Zipfian rank in {@code [0, ITEMS]}: 0 is the most popular. */
  long rank() {
    double u = random.nextDouble();
    double uz = u * ZETAN;
    if (uz < 1.0) {
      return 0;
    }
    if (uz < 1.0 + HALF_POW_THETA) {
      return 1;
    }
    return (long) (ITEMS * Math.pow(ETA * u - ETA + 1, ALPHA));
  }

  /** FNV-1a over the 8 bytes of {@code value}, low byte first, as YCSB's {@code fnvhash64}. */
  static long fnvhash64(long value) {
    long hash = 0xCBF29CE484222325L;
    for (int i = 0; i < 8; i++) {
      hash ^= value & 0xff;
      hash *= 1099511628211L;
      value >>= 8;
    }
    return hash;
  }
}
