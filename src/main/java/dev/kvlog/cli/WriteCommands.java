package dev.kvlog.cli;

import dev.kvlog.KVStore;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * The commands that write a store: set, delete, set-if-absent, cas, import. Each must own the store
 * (a file is created if missing); while another process owns it they are refused, naming that
 * process's pid, and nothing is written (see {@link Stores#lockedMessage}). Each returns once what
 * it wrote is durable. Each command object serves one run, so none is thread-safe.
 */
final class WriteCommands {
  private WriteCommands() {}

  @Command(
      name = "set",
      mixinStandardHelpOptions = true,
      description = {
        "Store VALUE under KEY; returns once it is durable.",
        "VALUE - reads the value from standard input, byte for byte (UTF-8; a trailing newline is"
            + " kept): kvlog set config - < config.json",
        "Everything after KEY is data (set k -h stores \"-h\"); a KEY that starts with - follows"
            + " --: kvlog set -- -k v (also for get, delete, set-if-absent)."
      })
  static final class SetCommand implements Callable<Integer> {
    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @Parameters(index = "1", paramLabel = "VALUE", description = "The value, or - for stdin.")
    String value;

    @Override
    public Integer call() throws IOException {
      String v = "-".equals(value) ? main.readStdin("the value") : value;
      try (KVStore<String, String> store = main.store.write()) {
        store.set(key, v);
      }
      return 0;
    }
  }

  @Command(
      name = "delete",
      mixinStandardHelpOptions = true,
      description =
          "Remove KEY; returns once the removal is durable. Removing an absent key is not an error.")
  static final class DeleteCommand implements Callable<Integer> {
    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @Override
    public Integer call() {
      try (KVStore<String, String> store = main.store.write()) {
        store.delete(key);
      }
      return 0;
    }
  }

  @Command(
      name = "set-if-absent",
      mixinStandardHelpOptions = true,
      description =
          "Store VALUE under KEY only if KEY is absent. If it is present, print its value and exit"
              + " with code 5.")
  static final class SetIfAbsentCommand implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @Parameters(index = "1", paramLabel = "VALUE")
    String value;

    @Override
    public Integer call() {
      try (KVStore<String, String> store = main.store.write()) {
        Optional<String> present = store.setIfAbsent(key, value);
        if (present.isPresent()) {
          spec.commandLine().getOut().println(present.get());
          spec.commandLine().getErr().println("kvlog: key already present: " + key);
          return Main.CONDITION_FAILED;
        }
        return 0;
      }
    }
  }

  @Command(
      name = "cas",
      mixinStandardHelpOptions = true,
      description = {
        "Compare and set: if KEY holds the expected value, replace it atomically and durably.",
        "Exit code 5 if it held something else (nothing is written).",
        "Example: kvlog cas counter --expect 41 --new 42"
      })
  static final class CasCommand implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @CommandLine.ArgGroup(multiplicity = "1")
    Expected expected;

    @CommandLine.ArgGroup(multiplicity = "1")
    Update update;

    static final class Expected {
      @Option(names = "--expect", paramLabel = "VALUE", description = "The value KEY must hold.")
      String value;

      @Option(names = "--expect-absent", description = "KEY must be absent.")
      boolean absent;
    }

    static final class Update {
      @Option(names = "--new", paramLabel = "VALUE", description = "The value to store.")
      String value;

      @Option(names = "--delete", description = "Remove KEY instead.")
      boolean delete;
    }

    @Override
    public Integer call() {
      try (KVStore<String, String> store = main.store.write()) {
        if (store.compareAndSet(key, expected.value, update.value)) {
          return 0;
        }
        spec.commandLine()
            .getErr()
            .println(
                "kvlog: "
                    + key
                    + (expected.absent ? " is present" : " does not hold the expected value")
                    + "; nothing was written");
        return Main.CONDITION_FAILED;
      }
    }
  }

  @Command(
      name = "import",
      mixinStandardHelpOptions = true,
      description = {
        "Set every entry of a JSON lines file (as written by export), "
            + ImportCommand.BATCH
            + " lines per transaction.",
        "Each line must be exactly one {\"key\":\"…\",\"value\":\"…\"} object in UTF-8. The first"
            + " bad line (or value the store refuses) stops the import with exit code 4 and its"
            + " line number; every line before it is imported and durable, nothing after it."
      })
  static final class ImportCommand implements Callable<Integer> {
    static final int BATCH = 1000;

    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Parameters(
        index = "0",
        paramLabel = "FILE",
        defaultValue = "-",
        description = "JSON lines file, or - for standard input (default).")
    String input;

    @Override
    public Integer call() throws IOException {
      boolean stdin = "-".equals(input);
      String name = stdin ? "standard input" : input;
      if (!stdin && !Files.isRegularFile(Path.of(input))) {
        throw new Main.Refused(
            "cannot import "
                + input
                + ": "
                + (Files.exists(Path.of(input)) ? "not a regular file" : "no such file")
                + "; give a JSON lines file, or - for standard input");
      }
      long size = stdin ? -1 : Files.size(Path.of(input));
      try (InputStream raw = stdin ? main.stdin : Files.newInputStream(Path.of(input));
          KVStore<String, String> store = main.store.write();
          Progress progress = main.progress("import", size)) {
        Importer importer = new Importer(store, name, BATCH);
        JsonLines.Reader lines =
            new JsonLines.Reader(new java.io.BufferedInputStream(raw, 1 << 16));
        while (true) {
          Map.Entry<String, String> entry;
          try {
            entry = lines.next();
          } catch (JsonLines.BadLine bad) {
            importer.stop(lines.lineNumber(), "is not valid: it " + bad.getMessage());
            return Main.BAD_INPUT; // not reached: stop throws
          }
          if (entry == null) {
            break;
          }
          importer.add(lines.lineNumber(), entry.getKey(), entry.getValue());
          progress.stepTo(lines.lineNumber());
        }
        importer.finish();
        spec.commandLine()
            .getErr()
            .println(
                "imported "
                    + importer.imported()
                    + " lines (a key on several lines holds the value of its last)");
      }
      return 0;
    }
  }
}
