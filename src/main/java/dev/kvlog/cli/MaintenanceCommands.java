package dev.kvlog.cli;

import dev.kvlog.KVLog;
import dev.kvlog.KVLogException;
import dev.kvlog.sqlite.Database;
import dev.kvlog.sqlite.KVLogReader;
import dev.kvlog.tools.Location;
import dev.kvlog.tools.Source;
import dev.kvlog.tools.StoreCopy;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * The commands that look after a store as a whole: backup, check, copy (to another store or
 * backend), schema, migrate. backup and check work on a SQLite file only, read-only and beside a
 * running owner; copy reads its source the same way and verifies what it wrote ({@link StoreCopy}).
 * Each command object serves one run, so none is thread-safe.
 */
final class MaintenanceCommands {
  private MaintenanceCommands() {}

  @Command(
      name = "backup",
      mixinStandardHelpOptions = true,
      description = {
        "Write a consistent, fsynced copy of the store to TARGET (which must not exist), also while"
            + " an application owns and writes the store.",
        "Restore by opening the copy: kvlog --file TARGET list"
      })
  static final class BackupCommand implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "TARGET")
    Path target;

    @Override
    public Integer call() {
      try (KVLogReader store = KVLogReader.open(main.store.storeFile("backup"))) {
        int entries = store.size();
        try (Progress progress = main.progress("backup", entries)) {
          store.backup(target);
          progress.stepTo(entries);
        } catch (IllegalArgumentException badTarget) {
          // Exists, is a link, or its directory is missing: bad usage (2), as for export.
          throw new Main.Refused(badTarget.getMessage());
        }
        spec.commandLine()
            .getErr()
            .println("backed up " + entries + " entries (committed at the start) to " + target);
      }
      return 0;
    }
  }

  @Command(
      name = "check",
      mixinStandardHelpOptions = true,
      description = {
        "Run SQLite's integrity_check on the store (read-only) and print the problems found.",
        "Exit code 0 if the file is sound; 3 if it is damaged (restore it from a backup), or if"
            + " it cannot be checked (missing, not readable, or not a KVLog store: the message"
            + " says which)."
      })
  static final class CheckCommand implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      Path path = main.store.storeFile("check").toAbsolutePath().normalize();
      PrintWriter err = spec.commandLine().getErr();
      String access = Stores.accessProblem(path);
      if (access != null) {
        err.println("kvlog: " + access + "; nothing was checked (this is not damage)");
        return Main.STORE_ERROR;
      }
      List<String> problems;
      try {
        // The read-only view KVLog.check(path) uses: immutable on a closed store, so no -wal or
        // -shm is created and a closed store in an unwritable directory is checked in place.
        problems = Database.checkStore(path);
      } catch (KVLogException notOpenable) {
        String denied = Stores.accessDenied(notOpenable);
        if (denied != null) {
          err.println("kvlog: " + denied + "; nothing was checked (this is not damage)");
          return Main.STORE_ERROR;
        }
        if (notOpenable.getMessage().contains(" is not a KVLog store (")) {
          // Foreign application_id or empty file, and (Errors.describe) not a SQLite file. A
          // sound foreign file is not damage; a store whose header was destroyed looks the same,
          // hence the last clause.
          err.println(
              "kvlog: "
                  + notOpenable.getMessage()
                  + "; nothing was checked (if it was a KVLog store, its header is destroyed:"
                  + " restore it from a backup)");
          return Main.STORE_ERROR;
        }
        problems = List.of(notOpenable.getMessage());
      }
      if (problems.isEmpty()) {
        spec.commandLine().getOut().println("ok");
        return 0;
      }
      problems.forEach(spec.commandLine().getOut()::println);
      err.println("kvlog: " + path + " is damaged; restore it from a backup");
      return Main.STORE_ERROR;
    }
  }

  @Command(
      name = "copy",
      mixinStandardHelpOptions = true,
      description = {
        "Copy every entry from one store to another, in batches of "
            + StoreCopy.BATCH
            + ", then verify that the"
            + " target holds each source entry (count and SHA-256 over the entries in key order).",
        "Stores are SQLite files or JDBC URLs. The source is only read (it may be in use); the"
            + " target must not be owned by another process. Safe to re-run: entries are"
            + " upserted, and keys that only the target has are left alone.",
        "Example: kvlog copy --from kv.db --to 'jdbc:postgresql://db/app?user=app'"
      })
  static final class CopyCommand implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--from", required = true, paramLabel = "STORE", description = "Source.")
    String from;

    @Option(names = "--to", required = true, paramLabel = "STORE", description = "Target.")
    String to;

    @Override
    public Integer call() {
      main.store.refuseFor("copy", "--from and --to");
      Location source = Targets.parse(from);
      Location destination = Targets.parse(to);
      StoreCopy.Report report;
      try (StoreCopy copy = open(source, destination);
          Progress progress = main.progress("copy", copy.sourceEntries())) {
        report = copy.run(progress::stepBy);
      }
      PrintWriter err = spec.commandLine().getErr();
      if (!report.verified()) {
        err.println(
            "kvlog: copy verification failed: "
                + report.differing()
                + " of "
                + report.copied()
                + " entries differ in the target (another writer?); re-run the copy");
        return Main.STORE_ERROR;
      }
      err.println(
          "copied "
              + report.copied()
              + " entries; verified "
              + report.copied()
              + " in the target, sha256 "
              + report.sourceSha256());
      return 0;
    }

    private static StoreCopy open(Location source, Location destination) {
      try {
        return StoreCopy.open(source, destination);
      } catch (StoreCopy.SameStoreException e) {
        throw new Main.Refused("--from and --to are the same store");
      }
    }
  }

  @Command(
      name = "schema",
      mixinStandardHelpOptions = true,
      description = "Print the store's installed schema version (read-only; migrate applies).")
  static final class SchemaCommand implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      try (Source store = main.store.read()) {
        spec.commandLine().getOut().println(store.schemaVersion());
      }
      return 0;
    }
  }

  @Command(
      name = "migrate",
      mixinStandardHelpOptions = true,
      description = {
        "Apply pending schema versions (sql/sqlite or sql/postgresql) and print the version now"
            + " installed. Each version applies in one transaction with its record in kvlog_schema."
            + " A store whose schema Flyway manages is left to Flyway."
      })
  static final class MigrateCommand implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      try (KVLog<String, String> store = main.store.write()) {
        spec.commandLine()
            .getOut()
            .println(
                "schema version " + store.schemaVersion() + " at " + main.store.target().display());
      }
      return 0;
    }
  }
}
