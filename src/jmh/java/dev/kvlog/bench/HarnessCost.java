package dev.kvlog.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * What the suite's get loop costs by itself: {@link Suite#gets} on engines whose get returns a
 * constant (no store), so the figure is the ceiling the suite can report for any store. Two engine
 * classes, so the {@code engine.get} call site is as polymorphic as in the suite.
 *
 * <p>Run: {@code mvn -Pbench -DskipTests test-compile exec:exec
 * -Dbench.main=dev.kvlog.bench.HarnessCost}
 */
public final class HarnessCost {
  private HarnessCost() {}

  public static void main(String[] args) throws Exception {
    Path dir = Files.createTempDirectory("harness-");
    Suite suite = new Suite(dir);
    for (Engine e : new Engine[] {new Constant("a", dir), new Other("b", dir)}) {
      suite.gets(e, 1);
      suite.gets(e, 2);
    }
    suite.gets(new Constant("a again", dir), 1);
    suite.figures.forEach((k, v) -> System.out.printf("%s: %.1fM/s%n", k, v / 1e6));
  }

  static class Constant extends Engine {
    Constant(String name, Path dir) {
      super(name, dir);
    }

    @Override
    void set(String key, String value) {}

    @Override
    String get(String key) {
      return "constant";
    }

    @Override
    void bulkLoad(Map<String, String> entries) {}

    @Override
    long reopenAndReadAll() {
      return 0;
    }

    @Override
    public void close() {}
  }

  static final class Other extends Constant {
    Other(String name, Path dir) {
      super(name, dir);
    }

    @Override
    String get(String key) {
      return key;
    }
  }
}
