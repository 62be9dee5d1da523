package dev.kvlog;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

/**
 * A concurrent workload on several PostgreSQL-backed instances, recorded as a history, and the
 * checker of that history.
 *
 * <p>Every written value is unique, so a write's returned prior value (or a successful CAS's
 * expected value) names the write it followed. The checker then requires:
 *
 * <ul>
 *   <li><b>writes and CAS are linearizable</b>: per key, no two acknowledged writes follow the same
 *       prior value, the "follows" edges form simple paths, one path starts at the initial absent
 *       state and every other path starts at a write whose outcome was reported unknown (its prior
 *       is not known); a write reported as not applied is never seen by anyone;
 *   <li><b>reads are monotonic and read-your-writes</b> per instance: a read that starts after
 *       another read or an acknowledged write of the same instance ended never returns an earlier
 *       value of the same path;
 *   <li><b>staleness is bounded</b>: a read that starts {@code boundMillis} after a write was
 *       acknowledged (on any instance) returns that write or a later one.
 * </ul>
 *
 * Times are {@code System.nanoTime()}, which on Linux is CLOCK_MONOTONIC and so comparable across
 * the JVMs of one machine. Values on different paths (separated by an unknown outcome) are not
 * compared.
 */
final class PgHistory {
  static final String[] KEYS = {"h0", "h1", "h2", "h3", "h4"};

  /** One operation; {@code kind}: R read, W set, C compare-and-set. */
  record Event(
      String instance,
      char kind,
      String key,
      String value, // read: the value read; W/C: the value written ("-" for absent)
      String prior, // W: returned prior; C: expected; R: unused
      String status, // ok, unknown, failed (not applied), false (CAS did not swap)
      long start,
      long end) {
    String line() {
      return String.join(
          "\t",
          instance,
          Character.toString(kind),
          key,
          value,
          prior,
          status,
          Long.toString(start),
          Long.toString(end));
    }

    static Event parse(String line) {
      String[] f = line.split("\t");
      return new Event(
          f[0], f[1].charAt(0), f[2], f[3], f[4], f[5], Long.parseLong(f[6]), Long.parseLong(f[7]));
    }
  }

  private PgHistory() {}

  /** Runs {@code threads} workers on {@code store} for {@code millis}; returns their events. */
  static List<Event> run(KVStore<String, String> store, String instance, int threads, long millis)
      throws InterruptedException {
    ConcurrentLinkedQueue<Event> out = new ConcurrentLinkedQueue<>();
    long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    List<Thread> workers = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      String who = instance + "." + t;
      Random random = new Random(who.hashCode());
      Thread w =
          new Thread(
              () -> {
                Map<String, String> lastRead = new HashMap<>();
                for (long n = 0; System.nanoTime() < until; n++) {
                  String key = KEYS[random.nextInt(KEYS.length)];
                  int dice = random.nextInt(100);
                  long start = System.nanoTime();
                  if (dice < 60) {
                    String v = store.get(key).orElse("-");
                    lastRead.put(key, v);
                    out.add(new Event(instance, 'R', key, v, "", "ok", start, System.nanoTime()));
                    continue;
                  }
                  String value = who + "#" + n;
                  try {
                    if (dice < 85) {
                      String prior = store.set(key, value).orElse("-");
                      out.add(new Event(instance, 'W', key, value, prior, "ok", start, end()));
                    } else {
                      String expected = lastRead.getOrDefault(key, "-");
                      boolean swapped =
                          store.compareAndSet(key, expected.equals("-") ? null : expected, value);
                      out.add(
                          new Event(
                              instance,
                              'C',
                              key,
                              value,
                              expected,
                              swapped ? "ok" : "false",
                              start,
                              end()));
                    }
                  } catch (WriteFailedException e) {
                    out.add(
                        new Event(
                            instance,
                            dice < 85 ? 'W' : 'C',
                            key,
                            value,
                            "?",
                            e.outcomeUnknown() ? "unknown" : "failed",
                            start,
                            end()));
                  } catch (KVLogException e) {
                    // a read-back of an uncertain key while the server is unreachable: no event
                  }
                }
              },
              "history-" + who);
      w.start();
      workers.add(w);
    }
    for (Thread w : workers) {
      w.join();
    }
    return new ArrayList<>(out);
  }

  private static long end() {
    return System.nanoTime();
  }

  static void write(Path file, Collection<Event> events) throws IOException {
    Files.write(file, events.stream().map(Event::line).toList());
  }

  static List<Event> read(Path file) throws IOException {
    return Files.readAllLines(file).stream().filter(l -> !l.isBlank()).map(Event::parse).toList();
  }

  /** The checker's verdict: violations (empty when the history is fine) and counts. */
  record Verdict(List<String> violations, long writes, long unknown, long reads) {}

  /**
   * Checks {@code events}; {@code finalValues} holds each key's value in the table at the end ("-"
   * for absent).
   */
  static Verdict check(List<Event> events, Map<String, String> finalValues, long boundMillis) {
    List<String> bad = new ArrayList<>();
    long writes = 0;
    long unknown = 0;
    long reads = 0;
    for (String key : KEYS) {
      List<Event> mine = events.stream().filter(e -> e.key().equals(key)).toList();
      Map<String, Event> acked = new HashMap<>(); // value -> acknowledged write
      Set<String> unknownValues = new HashSet<>();
      Set<String> notApplied = new HashSet<>();
      for (Event e : mine) {
        if (e.kind() == 'R') {
          reads++;
        } else if (e.status().equals("ok")) {
          acked.put(e.value(), e);
          writes++;
        } else if (e.status().equals("unknown")) {
          unknownValues.add(e.value());
          unknown++;
        } else if (e.status().equals("failed")) {
          notApplied.add(e.value());
        }
      }
      // Edges prior -> value; a prior may be followed by one write only.
      Map<String, String> next = new HashMap<>();
      for (Event w : acked.values()) {
        String was = next.put(w.prior(), w.value());
        if (was != null) {
          bad.add(key + ": " + was + " and " + w.value() + " both followed " + w.prior());
        }
      }
      // Every value referenced must have been written (acked, or applied with unknown outcome).
      Set<String> seen = new HashSet<>(next.keySet());
      mine.stream().filter(e -> e.kind() == 'R').forEach(e -> seen.add(e.value()));
      seen.add(finalValues.getOrDefault(key, "-"));
      for (String v : seen) {
        if (v.equals("-") || acked.containsKey(v) || unknownValues.contains(v)) {
          continue;
        }
        bad.add(
            key
                + ": "
                + v
                + (notApplied.contains(v)
                    ? " was reported as not applied, yet it was seen"
                    : " was seen but never written"));
      }
      // Paths: position of each value; heads are "-" or an applied unknown write.
      Map<String, Integer> path = new HashMap<>();
      Map<String, Integer> pos = new HashMap<>();
      List<String> heads = new ArrayList<>();
      heads.add("-");
      for (String u : unknownValues) {
        if (seen.contains(u)) {
          heads.add(u);
        }
      }
      for (int p = 0; p < heads.size(); p++) {
        String v = heads.get(p);
        for (int i = 0; v != null && i <= acked.size() + 1; i++) {
          if (path.containsKey(v)) {
            bad.add(key + ": " + v + " is on two paths (a cycle or a fork)");
            break;
          }
          path.put(v, p);
          pos.put(v, i);
          v = next.get(v);
        }
      }
      for (String v : acked.keySet()) {
        if (!path.containsKey(v)) {
          bad.add(key + ": acknowledged write " + v + " is on no path from the initial state");
        }
      }
      String last = finalValues.getOrDefault(key, "-");
      if (path.containsKey(last) && next.containsKey(last) && !last.equals("-")) {
        bad.add(key + ": the table's final value " + last + " was overwritten by an acked write");
      }
      // Reads: monotonic and read-your-writes per instance, staleness bound across instances.
      List<Event> observations =
          mine.stream()
              .filter(e -> e.kind() == 'R' || (e.status().equals("ok")))
              .filter(e -> path.containsKey(e.value()))
              .toList();
      Map<String, List<Event>> byInstance = new HashMap<>();
      for (Event e : observations) {
        byInstance.computeIfAbsent(e.instance(), i -> new ArrayList<>()).add(e);
      }
      for (List<Event> own : byInstance.values()) {
        checkOrder(key, own, path, pos, 0, "instance " + own.get(0).instance(), bad);
      }
      List<Event> all = new ArrayList<>();
      all.addAll(acked.values());
      all.addAll(observations.stream().filter(e -> e.kind() == 'R').toList());
      checkOrder(
          key,
          all,
          path,
          pos,
          TimeUnit.MILLISECONDS.toNanos(boundMillis),
          "the " + boundMillis + " ms staleness bound",
          bad);
    }
    return new Verdict(bad, writes, unknown, reads);
  }

  /**
   * A read that starts more than {@code lag} after an event ended (a read, or an acknowledged
   * write) must return a value at or after that event's, when both are on one path.
   */
  private static void checkOrder(
      String key,
      List<Event> events,
      Map<String, Integer> path,
      Map<String, Integer> pos,
      long lag,
      String rule,
      List<String> bad) {
    List<Event> byEnd = new ArrayList<>(events);
    byEnd.sort(Comparator.comparingLong(Event::end));
    List<Event> reads = new ArrayList<>(events.stream().filter(e -> e.kind() == 'R').toList());
    reads.sort(Comparator.comparingLong(Event::start));
    Map<Integer, Event> newest = new HashMap<>(); // per path, the furthest event ended so far
    int j = 0;
    for (Event r : reads) {
      while (j < byEnd.size() && byEnd.get(j).end() + lag < r.start()) {
        Event e = byEnd.get(j++);
        Event had = newest.get(path.get(e.value()));
        if (had == null || pos.get(e.value()) > pos.get(had.value())) {
          newest.put(path.get(e.value()), e);
        }
      }
      Event before = newest.get(path.get(r.value()));
      if (before != null && pos.get(r.value()) < pos.get(before.value()) && bad.size() < 50) {
        bad.add(
            String.format(
                "%s: %s read %s although %s (%s of %s) ended %d ms before the read began (%s)",
                key,
                r.instance(),
                r.value(),
                before.value(),
                before.kind() == 'R' ? "a read" : "a write",
                before.instance(),
                TimeUnit.NANOSECONDS.toMillis(r.start() - before.end()),
                rule));
      }
    }
  }
}
