package dev.kvlog;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.StandardLocation;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every {@code ```java} block of README.md compiles against this build, so a sample cannot keep
 * naming a method or class that was renamed or removed (issue 13 moved half the API; the old README
 * still showed {@code PostgresKVStore}). The samples are compiled, not run: they name files and
 * servers that do not exist here.
 *
 * <p>A block is the body of a method in a class of its own, with the imports a reader would write
 * ({@link #IMPORTS}). The variables samples use without declaring them ({@code store}, {@code
 * registry}...) are fields of that class rather than parameters of the method, so that a sample may
 * also declare its own {@code store}: a local variable may shadow a field, never a parameter. A
 * sample may declare local records and classes (Java 16+). Samples may use only the packages the
 * module exports, since that is all a library user can reach.
 *
 * <p>A block that uses {@code KVLogMetrics} is compiled only when that class is in the build (it is
 * written on another branch); otherwise it is skipped with that reason.
 *
 * <p>Not thread-safe; a JUnit test class.
 */
class ReadmeSamplesTest {
  private static final Path README = Path.of("README.md");

  /** What every sample may use without importing it. */
  private static final String IMPORTS =
      "import dev.kvlog.*;"
          + " import java.nio.file.*;"
          + " import java.time.*;"
          + " import java.util.*;"
          + " import java.util.concurrent.*;"
          + " import java.util.stream.*;"
          + " import io.micrometer.core.instrument.MeterRegistry;"
          + " import io.micrometer.core.instrument.simple.SimpleMeterRegistry;";

  /** The variables samples may use without declaring them, as fields (see the class comment). */
  private static final String FIELDS =
      "  KVLog<String, String> store; String url; MeterRegistry registry;";

  /** Packages the module does not export: a user cannot compile against them. */
  private static final Pattern HIDDEN_PACKAGE =
      Pattern.compile("dev\\.kvlog\\.(sqlite|postgres|internal|cli)\\b");

  /** One {@code ```java} block: where it starts in its file (the fence's line) and its text. */
  record Block(String file, int number, int fenceLine, String code) {
    String where() {
      return file + " java block " + number + " (line " + fenceLine + ")";
    }
  }

  @TempDir Path classes;

  @TestFactory
  Stream<DynamicTest> everyJavaBlockOfTheReadmeCompiles() throws IOException {
    List<Block> blocks = javaBlocks(README.getFileName().toString(), Files.readAllLines(README));
    assertThat(blocks.size()).as("java blocks found in %s", README.toAbsolutePath()).isPositive();
    return blocks.stream().map(b -> DynamicTest.dynamicTest(b.where(), () -> check(b)));
  }

  private void check(Block b) {
    if (b.code().contains("KVLogMetrics") && !inThisBuild("dev.kvlog.KVLogMetrics")) {
      Assumptions.abort(
          b.where() + " uses KVLogMetrics, which is not in this build yet; compiled once it is");
    }
    assertThat(HIDDEN_PACKAGE.matcher(b.code()).find())
        .as("%s names a package the module does not export:%n%s", b.where(), b.code())
        .isFalse();
    compile(b).ifPresent(error -> fail(error));
  }

  /**
   * The check itself can fail: a sample that calls a method the API does not have, or keeps a
   * {@code …} placeholder, is reported naming the block, its README line and javac's error; a
   * correct one compiles.
   */
  @Test
  void aSampleThatDoesNotCompile_isReportedWithItsBlockLineAndError() {
    Block missingMethod =
        new Block("README.md", 7, 40, "store.set(\"a\", \"1\");\nstore.setTwice(\"a\", \"1\");\n");
    assertThat(compile(missingMethod))
        .hasValueSatisfying(
            error ->
                assertThat(error)
                    .contains("README.md java block 7 (line 40) does not compile")
                    .contains("README.md:42:")
                    .contains("cannot find symbol")
                    .contains("setTwice"));

    Block placeholder =
        new Block("README.md", 8, 50, "try (Stream<?> s = store.scan(\"u\")) { … }\n");
    assertThat(compile(placeholder))
        .hasValueSatisfying(e -> assertThat(e).contains("README.md:51:"));

    Block fine =
        new Block(
            "README.md",
            9,
            60,
            "record User(String name) {}\n"
                + "try (KVLog<String, User> store = KVLog.builder(Path.of(\"u.db\"),"
                + " Codecs.string(), Codecs.json(User.class)).open()) {\n"
                + "  store.set(\"ann\", new User(\"ann\"));\n"
                + "}\n"
                + "store.asMap().putIfAbsent(\"k\", \"v\");\n");
    assertThat(compile(fine)).isEmpty();
  }

  /** The {@code ```java} blocks of a Markdown file, numbered from 1. */
  static List<Block> javaBlocks(String file, List<String> lines) {
    List<Block> blocks = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      String fence = lines.get(i).strip();
      if (!fence.startsWith("```")) {
        continue;
      }
      StringBuilder code = new StringBuilder();
      int start = i;
      for (i++; i < lines.size() && !lines.get(i).strip().equals("```"); i++) {
        code.append(lines.get(i)).append('\n');
      }
      if (fence.equals("```java")) {
        blocks.add(new Block(file, blocks.size() + 1, start + 1, code.toString()));
      }
    }
    return blocks;
  }

  /**
   * Compiles one block against the test class path.
   *
   * @return javac's errors, mapped to the README's lines, or empty if it compiled
   */
  private Optional<String> compile(Block block) {
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertNotNull(javac, "no Java compiler in this runtime: run the tests on a JDK");
    String className = "ReadmeBlock" + block.number();
    String header =
        IMPORTS
            + "\n@SuppressWarnings(\"unused\") class "
            + className
            + " {\n"
            + FIELDS
            + "\n"
            + "  void sample() throws Exception {\n";
    int headerLines = (int) header.chars().filter(c -> c == '\n').count();
    String source = header + block.code() + "  }\n}\n";
    JavaFileObject unit =
        new SimpleJavaFileObject(
            URI.create("string:///" + className + ".java"), JavaFileObject.Kind.SOURCE) {
          @Override
          public CharSequence getCharContent(boolean ignoreEncodingErrors) {
            return source;
          }
        };
    DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
    try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, null, UTF_8)) {
      files.setLocation(StandardLocation.CLASS_OUTPUT, List.of(classes.toFile()));
      List<String> options =
          List.of("--release", "17", "-proc:none", "-classpath", testClassPath(), "-Xlint:none");
      boolean ok = javac.getTask(null, files, diagnostics, options, null, List.of(unit)).call();
      List<String> errors = new ArrayList<>();
      String[] sourceLines = source.split("\n", -1);
      for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
        if (d.getKind() != Diagnostic.Kind.ERROR) {
          continue;
        }
        long line = d.getLineNumber();
        String at =
            line > headerLines
                ? block.file() + ":" + (block.fenceLine() + line - headerLines)
                : "the wrapper's line " + line;
        String text = line >= 1 && line <= sourceLines.length ? sourceLines[(int) line - 1] : "";
        errors.add(
            "  "
                + at
                + ": "
                + d.getMessage(Locale.ROOT).replace("\n", "\n    ")
                + "\n      "
                + text.strip());
      }
      if (ok && errors.isEmpty()) {
        return Optional.empty();
      }
      return Optional.of(
          block.where()
              + " does not compile against this build:\n"
              + String.join("\n", errors)
              + "\n(wrapped as: "
              + IMPORTS
              + " with the fields:"
              + FIELDS
              + ")");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The class path the tests run with (Surefire hides it behind a manifest-only jar). */
  private static String testClassPath() {
    String cp =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    String modules = System.getProperty("jdk.module.path");
    return modules == null || modules.isEmpty() ? cp : cp + File.pathSeparator + modules;
  }

  private static boolean inThisBuild(String className) {
    try {
      Class.forName(className, false, ReadmeSamplesTest.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException e) {
      return false;
    }
  }
}
