package dev.kvlog;

import static dev.kvlog.KVLogTest.contents;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Crash torture: a child JVM runs {@link TortureWorkload} (4 writers, group commit, sets, deletes,
 * batches, compare-and-sets) and is killed at a random moment, over and over on the same store.
 *
 * <ul>
 *   <li>Process crash: SIGKILL. The kernel keeps what the process wrote, synced or not.
 *   <li>Power cut: the child runs under {@link PowerCut}'s LD_PRELOAD library, so SIGKILL also
 *       drops every write to the store's files that was not fsynced; some cycles also let random
 *       torn pieces of unsynced writes reach the disk.
 * </ul>
 *
 * <p>After each kill the store is reopened and every writer's keys must be the result of a prefix
 * of its sequence that holds all its acknowledged operations (at most the one in flight more), and
 * the shared counter must hold every acknowledged increment. The negative controls run the same
 * power cuts with {@code synchronous=NORMAL} and {@code OFF} and must find lost acknowledged
 * writes, which shows the check can fail. Counts: {@code -Dkvlog.torture.cycles=N} (the build
 * passes 20 of each kind; the {@code torture} profile 1,000).
 *
 * <p>Every test runs in both {@link CacheMode}s: in bounded mode the child's store has a 4 KiB
 * cache (its increments read the counter on misses), and the reopened store is read key by key with
 * gets that miss (every writer's keys and the counter), which must agree with a scan. The bounded
 * runs do two fifths of the cycles (8 in the build, 400 in the {@code torture} profile).
 */
class CrashTortureTest {
  static final int CYCLES = Integer.getInteger("kvlog.torture.cycles", 20);

  @TempDir Path dir;

  /** What a run of cycles found. {@code lost}: acknowledged operations missing after a kill. */
  record Outcome(
      int cycles, long acknowledged, long lost, int inFlightCommitted, String firstLoss) {}

  @ParameterizedTest(name = "{0} cache")
  @EnumSource(CacheMode.class)
  void processKills_loseNoAcknowledgedWrite(CacheMode cache) throws Exception {
    Outcome o = run(cache.scaled(CYCLES), false, "FULL", false, cache);
    TortureSummary.record(
        "process kill (SIGKILL), synchronous=FULL" + note(cache),
        o.cycles(),
        o.acknowledged(),
        o.lost());
    assertThat(o.lost()).as(o.firstLoss()).isZero();
  }

  @ParameterizedTest(name = "{0} cache")
  @EnumSource(CacheMode.class)
  void powerCuts_loseNoAcknowledgedWrite(CacheMode cache) throws Exception {
    assumeTrue(PowerCut.library() != null, PowerCut.whyUnavailable());
    Outcome o = run(cache.scaled(CYCLES), true, "FULL", false, cache);
    TortureSummary.record(
        "power cut (unsynced writes dropped, some torn), synchronous=FULL" + note(cache),
        o.cycles(),
        o.acknowledged(),
        o.lost());
    assertThat(o.lost()).as(o.firstLoss()).isZero();
  }

  /** The same check on a store that does not fsync each commit must catch lost writes. */
  @ParameterizedTest(name = "synchronous={0}, {1} cache")
  @CsvSource({"NORMAL, WHOLE", "OFF, WHOLE", "NORMAL, BOUNDED", "OFF, BOUNDED"})
  void powerCuts_withWeakerSync_loseAcknowledgedWrites_andTheCheckSeesIt(
      String mode, CacheMode cache) throws Exception {
    assumeTrue(PowerCut.library() != null, PowerCut.whyUnavailable());
    Outcome o = run(Math.max(CYCLES, 10), true, mode, true, cache);
    TortureSummary.record(
        "NEGATIVE CONTROL: power cut, synchronous=" + mode + note(cache) + " (must lose)",
        o.cycles(),
        o.acknowledged(),
        o.lost());
    assertThat(o.lost()).as("power cuts on a synchronous=%s store lost nothing", mode).isPositive();
    System.out.printf("synchronous=%s, %s cache: %s%n", mode, cache, o.firstLoss());
  }

  private static String note(CacheMode cache) {
    return cache.bounded() ? ", bounded 4 KiB cache, reread with gets that miss" : "";
  }

  /**
   * What a reopened store holds: in bounded mode read first with a get of every key the workload
   * can write (each a miss on the fresh store), then checked against a scan, which must show the
   * same keys and values; in whole-table mode the loaded table.
   */
  static Map<String, String> reread(KVLog<String, String> reopened, CacheMode cache, int cycle) {
    if (!cache.bounded()) {
      return contents(reopened);
    }
    long missesBefore = reopened.stats().cacheMisses();
    Map<String, String> viaGets = new HashMap<>();
    List<String> keys = new ArrayList<>();
    for (int w = 0; w < TortureWorkload.WRITERS; w++) {
      for (int j = 0; j < TortureWorkload.KEYS_PER_WRITER; j++) {
        keys.add(TortureWorkload.key(w, j));
      }
    }
    keys.add(TortureWorkload.COUNTER);
    for (String k : keys) {
      reopened.get(k).ifPresent(v -> viaGets.put(k, v));
    }
    assertThat(reopened.stats().cacheMisses() - missesBefore)
        .as("cycle %d: gets of the reopened bounded store that read the table", cycle)
        .isEqualTo(keys.size());
    assertThat(contents(reopened))
        .as("cycle %d: a scan of the reopened store shows what its gets showed", cycle)
        .isEqualTo(viaGets);
    return viaGets;
  }

  Outcome run(
      int cycles, boolean powerCut, String synchronous, boolean stopAtFirstLoss, CacheMode cache)
      throws Exception {
    Path db = dir.resolve("kv.db");
    Random random = new Random(cycles * 7919L + synchronous.hashCode() + (powerCut ? 1 : 0));
    Map<String, String> state = new HashMap<>(); // what the store held after the last reopen
    long acknowledged = 0;
    long lost = 0;
    int inFlight = 0;
    String firstLoss = "no loss";
    int cycle = 0;
    for (; cycle < cycles; cycle++) {
      long seed = random.nextLong() & Long.MAX_VALUE;
      String ackPrefix = dir.resolve("acks-" + cycle + "-").toString();
      Map<String, String> env =
          powerCut ? PowerCut.environment(db, seed, cycle % 2 == 1 ? 3 : 0) : Map.of();
      Process child =
          ChildJvm.start(
              env,
              TortureWorkload.class,
              db.toString(),
              Long.toString(seed),
              ackPrefix,
              synchronous,
              cache.name());
      BufferedReader out =
          new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
      assertThat(out.readLine()).as("child started").isEqualTo("READY");
      Thread.sleep(100 + random.nextInt(500));
      assertThat(child.isAlive())
          .as("cycle %d: the workload is still running (exit code shows a model violation)", cycle)
          .isTrue();
      child.destroyForcibly(); // SIGKILL
      assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();

      Map<String, String> actual;
      try (KVLog<String, String> reopened = cache.open(db)) {
        actual = reread(reopened, cache, cycle);
      } catch (KVLogException e) {
        // Only a weakened store may come back unopenable; that is a loss the check must report.
        lost++;
        firstLoss = "cycle " + cycle + ": the store did not reopen: " + e.getMessage();
        if (stopAtFirstLoss) {
          cycle++;
          break;
        }
        throw e;
      }
      long lostBefore = lost;
      long counterBefore = Long.parseLong(state.getOrDefault(TortureWorkload.COUNTER, "0"));
      long counterAcked = 0;
      int counterInFlight = 0;
      for (int w = 0; w < TortureWorkload.WRITERS; w++) {
        List<String> lines = Files.readAllLines(Path.of(ackPrefix + w));
        int a = lines.size();
        for (int n = 0; n < a; n++) {
          assertThat(lines.get(n)).isEqualTo(Integer.toString(n));
        }
        acknowledged += a;
        Map<String, String> expected = TortureWorkload.keysOf(state, w);
        Map<String, String> mine = TortureWorkload.keysOf(actual, w);
        // The longest prefix of this writer's sequence (up to a + 1) that the store matches.
        List<Map<String, String>> prefixes = new ArrayList<>();
        prefixes.add(new HashMap<>(expected));
        for (int n = 0; n <= a; n++) {
          TortureWorkload.Op op = TortureWorkload.op(seed, w, n);
          TortureWorkload.apply(op, expected);
          prefixes.add(new HashMap<>(expected));
          if (op.kind() == TortureWorkload.Kind.INCREMENT) {
            if (n < a) {
              counterAcked++;
            } else {
              counterInFlight++;
            }
          }
        }
        int matched = -1;
        for (int p = a + 1; p >= 0; p--) {
          if (prefixes.get(p).equals(mine)) {
            matched = p;
            break;
          }
        }
        if (matched < a) {
          long missing = matched < 0 ? a : a - matched;
          lost += missing;
          if (firstLoss.equals("no loss")) {
            firstLoss =
                String.format(
                    "cycle %d, writer %d: %d operations acknowledged, store matches %s",
                    cycle, w, a, matched < 0 ? "no prefix at all" : "only the first " + matched);
          }
        } else if (matched == a + 1) {
          inFlight++;
        }
      }
      long counter = Long.parseLong(actual.getOrDefault(TortureWorkload.COUNTER, "0"));
      if (counter < counterBefore + counterAcked
          || counter > counterBefore + counterAcked + counterInFlight) {
        // Increments are writer operations too: count the counter only if nothing else was lost.
        if (lost == lostBefore) {
          lost += Math.max(1, counterBefore + counterAcked - counter);
        }
        if (firstLoss.equals("no loss")) {
          firstLoss =
              String.format(
                  "cycle %d: counter %d, expected %d acknowledged increments on top of %d (+%d in flight)",
                  cycle, counter, counterAcked, counterBefore, counterInFlight);
        }
      }
      state = actual;
      if (stopAtFirstLoss && lost > 0) {
        cycle++;
        break;
      }
    }
    System.out.printf(
        "%s cache, %s, synchronous=%s: %d cycles, %d acknowledged operations, %d lost, %d in-flight committed%n",
        cache,
        powerCut ? "power cuts" : "process kills",
        synchronous,
        cycle,
        acknowledged,
        lost,
        inFlight);
    return new Outcome(cycle, acknowledged, lost, inFlight, firstLoss);
  }
}
