package dev.kvlog;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestPlan;

/**
 * Collects what the torture tests did (cycles, faults, inputs, acknowledged writes, losses) and
 * prints one table when the test run ends; also writes it to {@code target/torture-summary.md}.
 * Registered as a JUnit Platform listener in {@code META-INF/services}.
 */
public final class TortureSummary implements TestExecutionListener {
  record Row(String what, long runs, long acknowledged, long lost) {}

  private static final List<Row> ROWS = new ArrayList<>();

  /** Adds a row: {@code runs} cycles, faults or inputs; {@code lost} acknowledged writes lost. */
  static synchronized void record(String what, long runs, long acknowledged, long lost) {
    ROWS.add(new Row(what, runs, acknowledged, lost));
  }

  static synchronized String table() {
    StringBuilder out = new StringBuilder();
    out.append("| torture | cycles / faults / inputs | acknowledged writes | lost |\n");
    out.append("|---|---|---|---|\n");
    for (Row r : ROWS) {
      out.append(
          String.format(
              "| %s | %,d | %,d | %,d |%n", r.what(), r.runs(), r.acknowledged(), r.lost()));
    }
    return out.toString();
  }

  @Override
  public void testPlanExecutionFinished(TestPlan plan) {
    String table;
    synchronized (TortureSummary.class) {
      if (ROWS.isEmpty()) {
        return;
      }
      table = table();
    }
    System.out.println("\nTorture summary (negative controls must show losses):\n" + table);
    try {
      Path out = Path.of("target", "torture-summary.md");
      Files.createDirectories(out.getParent());
      Files.writeString(out, table);
    } catch (IOException e) {
      System.out.println("cannot write target/torture-summary.md: " + e);
    }
  }
}
