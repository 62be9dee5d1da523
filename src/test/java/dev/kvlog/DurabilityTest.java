package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Durability happens before return, observed at the system-call level: a child JVM runs under
 * {@code strace}, and between any two acknowledgements (each printed right after a {@code set}
 * returned) the {@code -wal} file must have been fsynced. A kill test cannot show this (a killed
 * process loses nothing that reached the kernel); a missing fsync is exactly what power loss
 * punishes. The same check on a writer with {@code synchronous=NORMAL} must find violations, which
 * proves the check can fail.
 */
class DurabilityTest {
  static final int WRITES = 20;
  private static final Pattern OPEN =
      Pattern.compile("^\\d+\\s+openat\\([^\"]*\"([^\"]+)\".*\\)\\s+=\\s+(\\d+)");
  private static final Pattern SYNC =
      Pattern.compile("^(\\d+)\\s+f(?:data)?sync\\((\\d+)\\)\\s+=\\s+0");
  private static final Pattern SYNC_START =
      Pattern.compile("^(\\d+)\\s+f(?:data)?sync\\((\\d+) <unfinished");
  private static final Pattern SYNC_END =
      Pattern.compile("^(\\d+)\\s+<\\.\\.\\. f(?:data)?sync resumed>.*=\\s+0");
  private static final Pattern WAL_STAT =
      Pattern.compile("^\\d+\\s+(?:statx|stat|lstat|newfstatat)\\([^\"]*\"[^\"]*kv\\.db-wal\"");
  private static final Pattern OUT =
      Pattern.compile("^\\d+\\s+write\\(1, \"(START|ACK \\d+)\\\\n\"");

  @TempDir Path dir;
  private int walStats; // stat() calls on the -wal file after START, from the last trace

  /**
   * The write path must not stat() the WAL on every commit: on Linux 6.13+ (multigrain timestamps)
   * each stat makes the next write stamp a fine-grained ctime, and the commit's fsync then also
   * writes the dirty inode (measured: 1-writer p50 190 us instead of 130). The housekeeper looks at
   * the WAL's size only every {@code COMMITS_BETWEEN_LOOKS} commits.
   */
  @Test
  void commits_doNotStatTheWalEachTime() throws Exception {
    assertThat(traceViolations("kvlog")).isEmpty();
    assertThat(walStats)
        .as("stat() calls on the WAL during %d writes", WRITES)
        .isLessThan(WRITES / 4);
  }

  @Test
  void everyAcknowledgedSet_followsAnFsyncOfTheWal() throws Exception {
    List<String> violations = traceViolations("kvlog");
    assertThat(violations).as("acknowledgements without a preceding WAL fsync").isEmpty();
  }

  @Test
  void theCheckCatchesAWriterThatDoesNotSyncEachCommit() throws Exception {
    List<String> violations = traceViolations("raw-normal");
    assertThat(violations)
        .as("synchronous=NORMAL skips the per-commit fsync")
        .hasSizeGreaterThan(WRITES / 2);
  }

  /**
   * Runs the child under strace and returns one line per acknowledgement not preceded by a WAL
   * sync.
   */
  private List<String> traceViolations(String mode) throws Exception {
    assumeTrue(System.getProperty("os.name").startsWith("Linux"), "strace is Linux-only");
    assumeTrue(
        Files.isExecutable(Path.of("/usr/bin/strace")),
        "strace is not installed (apt-get install strace)");
    Path trace = dir.resolve("trace.txt");
    List<String> command =
        new ArrayList<>(
            List.of(
                "/usr/bin/strace",
                "-f",
                "-qq",
                "-s",
                "64",
                "-e",
                "trace=openat,fsync,fdatasync,write,%stat,%fstat",
                "-e",
                "signal=none",
                "-o",
                trace.toString()));
    command.addAll(
        ChildJvm.command(
            SyncBeforeAckChild.class,
            dir.resolve("kv.db").toString(),
            Integer.toString(WRITES),
            mode));
    Process process =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("child.out").toFile())
            .start();
    assertThat(process.waitFor(120, TimeUnit.SECONDS)).as("traced child finished").isTrue();
    assumeTrue(
        process.exitValue() == 0 || !Files.readString(dir.resolve("child.out")).contains("ptrace"),
        "ptrace is not permitted here");
    assertThat(process.exitValue()).as(Files.readString(dir.resolve("child.out"))).isZero();

    Map<Integer, String> files = new HashMap<>();
    Map<String, Integer> pendingSync = new HashMap<>();
    List<String> violations = new ArrayList<>();
    boolean started = false;
    boolean walSynced = false;
    int acks = 0;
    walStats = 0;
    for (String line : Files.readAllLines(trace)) {
      Matcher m;
      if (started && WAL_STAT.matcher(line).find()) {
        walStats++;
      } else if ((m = OPEN.matcher(line)).find()) {
        files.put(Integer.parseInt(m.group(2)), m.group(1));
      } else if ((m = SYNC.matcher(line)).find()) {
        walSynced |= isWal(files.get(Integer.parseInt(m.group(2))));
      } else if ((m = SYNC_START.matcher(line)).find()) {
        pendingSync.put(m.group(1), Integer.parseInt(m.group(2)));
      } else if ((m = SYNC_END.matcher(line)).find()) {
        Integer fd = pendingSync.remove(m.group(1));
        walSynced |= fd != null && isWal(files.get(fd));
      } else if ((m = OUT.matcher(line)).find()) {
        if (m.group(1).equals("START")) {
          started = true;
        } else if (started) {
          acks++;
          if (!walSynced) {
            violations.add(
                m.group(1) + " was printed with no WAL fsync since the previous write returned");
          }
        }
        walSynced = false;
      }
    }
    assertThat(acks).as("acknowledgements seen in the trace").isEqualTo(WRITES);
    return violations;
  }

  private static boolean isWal(String path) {
    return path != null && path.endsWith("kv.db-wal");
  }
}
