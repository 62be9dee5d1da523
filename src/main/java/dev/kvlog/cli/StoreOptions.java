package dev.kvlog.cli;

import dev.kvlog.KVLog;
import dev.kvlog.tools.Location;
import dev.kvlog.tools.Source;
import java.nio.file.Path;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The {@code --file} and {@code --url} options (a picocli mixin of the {@code kvlog} command), and
 * the store they name, opened through {@link Stores}. Filled in by picocli once per run; used by
 * that run's command only, so not shared between threads.
 */
final class StoreOptions {
  @Option(
      names = {"-f", "--file"},
      defaultValue = "${env:KVLOG_FILE:-kvlog.db}",
      description =
          "Store file (default: $KVLOG_FILE, else ./kvlog.db). Only write commands create it.")
  Path file;

  @Option(
      names = "--url",
      description =
          "Open the store at this JDBC URL instead of --file: jdbc:postgresql://host/db?... or"
              + " jdbc:sqlite:FILE (also jdbc:sqlite:file:FILE; no URL parameters). backup, check"
              + " and stats need a SQLite store. Not together with --file; it overrides"
              + " $KVLOG_FILE.")
  String url;

  /** The command these options belong to, to ask whether --file was given or defaulted. */
  @Spec(Spec.Target.MIXEE)
  CommandSpec mixee;

  /** The target of --url if given, else of --file. */
  Location target() {
    if (url != null && mixee.commandLine().getParseResult().hasMatchedOption("--file")) {
      throw new Main.Refused("give either --file or --url, not both");
    }
    return url != null ? Targets.parseUrl(url) : Location.file(file);
  }

  /**
   * Refuses --file and --url for {@code command}, which names its stores otherwise: silently
   * ignoring them would leave the user believing they chose a store. $KVLOG_FILE (a default, not a
   * choice made for this command) is not refused.
   */
  void refuseFor(String command, String instead) {
    if (url != null || mixee.commandLine().getParseResult().hasMatchedOption("--file")) {
      throw new Main.Refused(
          command + " does not use --file or --url; name its stores with " + instead);
    }
  }

  /** The target, which must be a SQLite store file for {@code command}. */
  Path storeFile(String command) {
    Location t = target();
    if (!t.isFile()) {
      throw new Main.Refused(
          command
              + " works on a SQLite store file, not on "
              + t.display()
              + (command.equals("backup") ? "; for PostgreSQL use pg_dump" : "")
              + "; give --file or --url jdbc:sqlite:FILE");
    }
    return t.file();
  }

  /** The store opened for reading: read-only for a file, whether or not another process owns it. */
  Source read() {
    return Stores.read(target());
  }

  /** The store opened for writing (a file is created if missing). */
  KVLog<String, String> write() {
    return Stores.write(target());
  }
}
