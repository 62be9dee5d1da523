package dev.kvlog;

import static dev.kvlog.KVLogTest.contents;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A child JVM writes in a loop and is killed with SIGKILL at a random moment, many times over the
 * same store. After each kill the reopened store must hold every acknowledged write and equal the
 * state after some prefix of the issued operations: with one writer, the acknowledged ones plus at
 * most the one in flight. Set {@code -Dkvlog.rudeRestarts=N} for a longer run.
 */
class RudeRestartTest {
  static final int CYCLES = Integer.getInteger("kvlog.rudeRestarts", 15);

  @TempDir Path dir;

  @Test
  void killedWriter_losesNoAcknowledgedWrite_andLeavesAPrefix() throws Exception {
    Path db = dir.resolve("kv.db");
    Map<String, String> model = new HashMap<>(); // the state the store must be in now
    Random random = new Random(20261125);
    int totalAcked = 0;
    int inFlightApplied = 0;
    for (int cycle = 0; cycle < CYCLES; cycle++) {
      long seed = cycle + 1;
      Path ackFile = dir.resolve("acks-" + cycle);
      Process child =
          ChildJvm.start(
              CrashWorkload.class, db.toString(), Long.toString(seed), ackFile.toString());
      BufferedReader out =
          new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
      assertThat(out.readLine()).as("child started").isEqualTo("READY");
      Thread.sleep(50 + random.nextInt(400));
      child.destroyForcibly(); // SIGKILL
      assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
      List<String> lines = Files.readAllLines(ackFile);
      for (int n = 0; n < lines.size(); n++) {
        assertThat(lines.get(n)).as("acks are written in order").isEqualTo(Integer.toString(n));
      }
      int a = lines.size();
      assertThat(a)
          .as("cycle %d: the child acknowledged writes before the kill", cycle)
          .isPositive();

      Map<String, String> acknowledged = new HashMap<>(model);
      for (int n = 0; n < a; n++) {
        CrashWorkload.op(seed, n).applyTo(acknowledged);
      }
      Map<String, String> withInFlight = new HashMap<>(acknowledged);
      CrashWorkload.op(seed, a).applyTo(withInFlight);

      try (KVLog<String, String> reopened = KVLog.load(db)) {
        Map<String, String> actual = contents(reopened);
        if (!actual.equals(acknowledged)) {
          assertThat(diff(actual, withInFlight))
              .as(
                  "cycle %d: after %d acknowledged ops the store is neither that prefix nor the"
                      + " next; differences from the acknowledged prefix: %s",
                  cycle, a, diff(actual, acknowledged))
              .isEmpty();
          inFlightApplied++;
        }
        model = actual;
      }
      totalAcked += a;
    }
    TortureSummary.record(
        "process kill (SIGKILL), one writer, values up to 70 KB", CYCLES, totalAcked, 0);
    System.out.printf(
        "rude restarts: %d kills, %d acknowledged writes checked, %d in-flight writes"
            + " found committed, 0 lost%n",
        CYCLES, totalAcked, inFlightApplied);
  }

  /** Keys whose values differ, with short excerpts: full values can be megabytes. */
  static java.util.List<String> diff(Map<String, String> actual, Map<String, String> expected) {
    java.util.TreeSet<String> keys = new java.util.TreeSet<>(actual.keySet());
    keys.addAll(expected.keySet());
    java.util.List<String> differences = new java.util.ArrayList<>();
    for (String key : keys) {
      String a = actual.get(key);
      String e = expected.get(key);
      if (!java.util.Objects.equals(a, e)) {
        differences.add(key + ": expected " + excerpt(e) + " but store has " + excerpt(a));
      }
    }
    return differences;
  }

  private static String excerpt(String value) {
    return value == null ? "nothing" : value.length() <= 24 ? value : value.substring(0, 24) + "…";
  }
}
