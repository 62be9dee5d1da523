package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The latency histogram reports a bucket's upper bound: never below, at most 25% above. */
class CommitStatsTest {
  @Test
  void upperBound_isNeverBelowAndAtMostAQuarterAboveEveryValueInItsBucket() {
    for (long micros = 1; micros < 1L << 40; micros = micros < 4096 ? micros + 1 : micros * 3 / 2) {
      long reported = CommitStats.upperBound(CommitStats.bucket(micros));
      assertThat(reported).as("%d us", micros).isGreaterThanOrEqualTo(micros);
      assertThat((double) reported).as("%d us", micros).isLessThanOrEqualTo(micros * 1.25);
    }
  }

  @Test
  void bucketLowEdge_isTheWorstCase() {
    assertThat(CommitStats.upperBound(CommitStats.bucket(1024))).isEqualTo(1279);
  }
}
