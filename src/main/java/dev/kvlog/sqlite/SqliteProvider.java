package dev.kvlog.sqlite;

import dev.kvlog.KVLogException;
import dev.kvlog.StoreOpenException;
import dev.kvlog.spi.Backend;
import dev.kvlog.spi.BackendProvider;
import dev.kvlog.spi.Settings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Opens {@code jdbc:sqlite:<file>} stores: {@link SqliteBackend}. Found through {@link
 * java.util.ServiceLoader}. Thread-safe.
 */
public final class SqliteProvider implements BackendProvider {
  /** The URL prefix of this backend. */
  public static final String PREFIX = "jdbc:sqlite:";

  /** The WAL size that starts a checkpoint, and the size a reset WAL is truncated to. */
  private static final long WAL_LIMIT_BYTES = 4L << 20;

  private static final Set<String> OPTIONS =
      Set.of("busyTimeout", "groupCommit", "externalChangeCheck", "verifyOnOpen");

  /** Test hook: {@code synchronous} weaker than FULL is accepted only with this property set. */
  public static final String WEAK_SYNC_FOR_TESTS = "weakSynchronousForTests";

  /** Properties starting with this set a per-connection pragma (tests). */
  public static final String PRAGMA = "pragma.";

  @Override
  public String urlForm() {
    return PREFIX + "<file>";
  }

  @Override
  public boolean accepts(String url) {
    return url.startsWith(PREFIX);
  }

  /** The file a {@code jdbc:sqlite:} URL names. */
  public static Path file(String url) {
    return Path.of(url.substring(PREFIX.length()));
  }

  @Override
  public List<String> check(String url) {
    return Database.checkFile(StoreFiles.existingFile(file(url)));
  }

  /**
   * Opens the store: resolves symbolic links (every file of the store is named after the real
   * file), checks an existing file without changing it, takes the owner lock, creates the file
   * owner-only if it is new, checks the connections' pragmas, applies pending migrations and loads
   * the table into memory. A refused file is left byte-identical, with no {@code -wal}, {@code
   * -shm} or {@code -lock} file left beside it.
   */
  @Override
  public Backend open(String url, Settings settings) {
    settings.refuseAllBut("a " + PREFIX + " store", OPTIONS);
    Duration busyTimeout = orElse(settings.busyTimeout(), Duration.ofSeconds(5));
    boolean groupCommit = orElse(settings.groupCommit(), true);
    Duration externalChangeCheck = orElse(settings.externalChangeCheck(), Duration.ofSeconds(1));
    boolean verifyOnOpen = orElse(settings.verifyOnOpen(), true);
    Map<String, String> pragmas = new LinkedHashMap<>();
    settings
        .properties()
        .forEach(
            (name, value) -> {
              if (name.startsWith(PRAGMA)) {
                pragmas.put(name.substring(PRAGMA.length()), value);
              } else if (!name.equals(WEAK_SYNC_FOR_TESTS)) {
                throw new IllegalArgumentException("unknown SQLite property " + name);
              }
            });
    boolean weakSyncForTests = settings.properties().containsKey(WEAK_SYNC_FOR_TESTS);

    // One owner per file, whatever the path: the real path names every file of the store.
    StoreFileSet files = StoreFileSet.of(StoreFiles.checkPath(file(url)));
    Path file = files.database();
    OwnerLock ownerLock = OwnerLock.reserve(files);
    boolean[] sidecars = null;
    Database database = null;
    try {
      // Refusing a file never changes it: up to ownerLock.lock() every step only reads, and
      // the checks run on a read-only connection before the pool switches the file to WAL.
      ownerLock.lockIfExists(); // a store owned elsewhere is refused before anything reads it
      boolean existed = Files.exists(file);
      StoreFiles.check(files);
      if (existed) {
        Database.checkIsStore(file, verifyOnOpen);
      }
      ownerLock.lock();
      sidecars = StoreFiles.sidecars(files);
      if (!existed && !StoreFiles.createIfMissing(file)) {
        // Created by someone else since the look above: check it now, as the owner.
        StoreFiles.check(files);
        Database.checkIsStore(file, verifyOnOpen);
      }
      StoreFiles.ownerOnlyIfEmpty(file); // an empty file adopted as a new store: see there
      ownerLock.reserveCreated();
      database = Database.open(files, busyTimeout, WAL_LIMIT_BYTES, pragmas, weakSyncForTests);
      Connection writer = database.connection();
      Housekeeper housekeeper = null;
      try {
        int version = Migrations.migrate(writer, file);
        CommitStats stats = new CommitStats();
        housekeeper =
            new Housekeeper(
                files, database.connection(), WAL_LIMIT_BYTES, externalChangeCheck, stats);
        SqliteWriter log =
            new SqliteWriter(file, writer, groupCommit, housekeeper::afterCommit, stats);
        housekeeper.start(log::pollExternalChanges);
        return new SqliteBackend(files, ownerLock, database, log, housekeeper, stats, version);
      } catch (SQLException | RuntimeException e) {
        if (housekeeper != null) {
          housekeeper.close();
        }
        writer.close();
        throw e;
      }
    } catch (SQLException | RuntimeException e) {
      if (database != null) {
        database.close();
      }
      if (sidecars != null) { // only as the owner: before that, the files may be another's
        StoreFiles.removeCreatedSidecars(files, sidecars);
      }
      ownerLock.closeRefused(); // deletes the lock file if this open created it
      if (e instanceof KVLogException) {
        throw (KVLogException) e;
      }
      if (e instanceof SQLException) {
        throw new StoreOpenException(Errors.describe(file, (SQLException) e), e);
      }
      throw (RuntimeException) e;
    }
  }

  private static <T> T orElse(T value, T otherwise) {
    return value != null ? value : otherwise;
  }
}
