package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.sqlite.JDBC;

/**
 * KVLog as a named module: a small application module that {@code requires dev.kvlog} is compiled
 * here and run in a child JVM with only the library and its required dependencies on the module
 * path (sqlite-jdbc, HikariCP, slf4j-api; no PostgreSQL driver, Jackson, picocli or Micrometer).
 *
 * <p>The rest of the suite runs on the class path (see the pom), so this is the one test that sees
 * module-info.java at work: the backends are found across modules by ServiceLoader (so it fails if
 * {@code provides} is lost; META-INF/services does not count for a named module), the schema
 * scripts are readable, the optional dependencies are truly optional, and the engine stays
 * encapsulated (so it fails if {@code dev.kvlog.sqlite} is exported or opened).
 */
class ModulePathTest {
  @TempDir Path dir;

  /** The application module: prints one line per check, for the test to read. */
  private static final String MODULE_INFO = "module kvlog.probe { requires dev.kvlog; }\n";

  private static final String PROBE =
      String.join(
          "\n",
          "package probe;",
          "",
          "import dev.kvlog.KVLog;",
          "import java.lang.reflect.InaccessibleObjectException;",
          "import java.nio.file.Path;",
          "",
          "public final class Main {",
          "  public static void main(String[] args) throws Exception {",
          "    Path dir = Path.of(args[0]);",
          "    Module kvlog = KVLog.class.getModule();",
          "    System.out.println(\"module \" + kvlog.getName());",
          "    try (KVLog<String, String> store =",
          "        KVLog.connect(\"jdbc:sqlite:\" + dir.resolve(\"connect.db\"))) {",
          "      store.set(\"greeting\", \"hello\");",
          "      System.out.println(\"connect get \" + store.get(\"greeting\").orElse(\"-\"));",
          "    }",
          "    try (KVLog<String, String> store = KVLog.open(dir.resolve(\"open.db\"))) {",
          "      store.set(\"k\", \"v\");",
          "      System.out.println(\"open get \" + store.get(\"k\").orElse(\"-\"));",
          "    }",
          "    System.out.println(\"sqlite exported \" + kvlog.isExported(\"dev.kvlog.sqlite\"));",
          "    System.out.println(\"pg driver \" + ModuleLayer.boot().findModule(",
          "        \"org.postgresql.jdbc\").isPresent());",
          "    Class<?> provider = Class.forName(\"dev.kvlog.sqlite.SqliteProvider\");",
          "    try {",
          "      provider.getConstructor().newInstance();",
          "      System.out.println(\"SqliteProvider constructed\");",
          "    } catch (IllegalAccessException e) {",
          "      System.out.println(\"SqliteProvider refused\");",
          "    }",
          "    Class<?> backend = Class.forName(\"dev.kvlog.sqlite.SqliteBackend\");",
          "    try {",
          "      backend.getDeclaredConstructors()[0].setAccessible(true);",
          "      System.out.println(\"SqliteBackend opened\");",
          "    } catch (InaccessibleObjectException e) {",
          "      System.out.println(\"SqliteBackend refused\");",
          "    }",
          "  }",
          "}",
          "");

  @Test
  void anApplicationModuleOpensAStoreAndCannotReachTheEngine() throws Exception {
    Path library = location(KVLog.class);
    assertThat(library.resolve("module-info.class"))
        .as("the library is compiled as a module")
        .exists();
    String modulePath =
        Stream.of(library, location(JDBC.class), location(HikariDataSource.class))
                .map(Path::toString)
                .collect(Collectors.joining(java.io.File.pathSeparator))
            + java.io.File.pathSeparator
            + location(Logger.class);

    Path app = compileProbe(modulePath);

    List<String> command = new ArrayList<>();
    command.add(ChildJvm.javaBinary());
    if (Runtime.version().feature() >= 22) {
      command.add("--enable-native-access=org.xerial.sqlitejdbc"); // its native library
    }
    command.add("--module-path");
    command.add(app + java.io.File.pathSeparator + modulePath);
    command.add("--module");
    command.add("kvlog.probe/probe.Main");
    Path stores = Files.createDirectories(dir.resolve("stores"));
    command.add(stores.toString());
    Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(child.waitFor(60, TimeUnit.SECONDS)).as("the child finished").isTrue();

    assertThat(child.exitValue()).as(output).isZero();
    assertThat(output.lines())
        .as(output)
        .contains(
            "module dev.kvlog",
            "connect get hello",
            "open get v",
            "sqlite exported false",
            "pg driver false",
            "SqliteProvider refused",
            "SqliteBackend refused");
  }

  /**
   * Compiles the application module against the library's module path with this JDK's javac (a
   * process, not javax.tools: the test classes may be patched into dev.kvlog, which does not read
   * java.compiler); returns its classes.
   */
  private Path compileProbe(String modulePath) throws IOException, InterruptedException {
    Path sources = dir.resolve("src");
    Files.createDirectories(sources.resolve("probe"));
    Path moduleInfo = Files.writeString(sources.resolve("module-info.java"), MODULE_INFO);
    Path main = Files.writeString(sources.resolve("probe/Main.java"), PROBE);
    Path classes = Files.createDirectories(dir.resolve("classes"));
    Path javac = Path.of(System.getProperty("java.home"), "bin", "javac");
    assertThat(javac).as("a JDK's compiler (tests run on a JDK)").isExecutable();
    Process compile =
        new ProcessBuilder(
                javac.toString(),
                "--module-path",
                modulePath,
                "-d",
                classes.toString(),
                moduleInfo.toString(),
                main.toString())
            .redirectErrorStream(true)
            .start();
    String diagnostics =
        new String(compile.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(compile.waitFor(120, TimeUnit.SECONDS)).as("javac finished").isTrue();
    assertThat(compile.exitValue()).as(diagnostics).isZero();
    return classes;
  }

  /** The directory or jar a class was loaded from. */
  private static Path location(Class<?> type) throws URISyntaxException {
    return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
  }
}
