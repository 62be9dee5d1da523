package dev.kvlog.sqlite;

import dev.kvlog.KVLogException;
import dev.kvlog.StoreOpenException;
import dev.kvlog.internal.Secrets;
import dev.kvlog.spi.Backend;
import dev.kvlog.spi.BackendProvider;
import dev.kvlog.spi.Settings;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

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
      Set.of("busyTimeout", "groupCommit", "externalChangeCheck", "verifyOnOpen", "cacheSize");

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

  /** The file a {@code jdbc:sqlite:} URL names; see {@link #file(String, String)}. */
  public static Path file(String url) {
    return file(url, "");
  }

  /**
   * The file of {@code jdbc:sqlite:PATH} or of an SQLite URI filename {@code jdbc:sqlite:file:PATH}
   * ({@code file:///abs/path} and {@code file://localhost/abs/path} too, with %-escapes decoded as
   * SQLite decodes them). The one reading of these URLs, for the library and the command line:
   * taken literally, {@code file:/d/kv.db} opened a new store at {@code ./file:/d/kv.db}. Refused,
   * because KVLog cannot honour them: parameters (KVLog sets the connection's mode and pragmas
   * itself, and {@code mode=ro} or {@code mode=memory} would silently change what a store does),
   * in-memory databases (a store is a file), an empty name, another host, and %-escapes outside a
   * {@code file:} URI (SQLite takes them literally there, a reader would not).
   *
   * @param url a {@code jdbc:sqlite:} URL
   * @param option how the caller's user gives a URL, for messages: {@code ""} for the library,
   *     {@code "--url "} for the command line
   * @throws IllegalArgumentException saying why and what to write instead
   */
  public static Path file(String url, String option) {
    if (!url.startsWith(PREFIX)) {
      throw new IllegalArgumentException(
          Secrets.redact(url) + " is not a " + PREFIX + " URL; give " + option + PREFIX + "FILE");
    }
    String rest = url.substring(PREFIX.length());
    int query = rest.indexOf('?');
    if (query >= 0) {
      throw new IllegalArgumentException(
          Secrets.redact(url)
              + ": URL parameters ("
              + Secrets.redact(rest.substring(query + 1), Secrets.of(url))
              + ") are not supported; KVLog sets the SQLite connection's mode and pragmas itself."
              + " Give the file alone: "
              + option
              + PREFIX
              + Secrets.redact(alone(url, rest.substring(0, query)), Secrets.of(url)));
    }
    boolean uri = rest.startsWith("file:");
    String path = uri ? decode(url, uriPath(url, rest.substring("file:".length()))) : rest;
    if (path.isEmpty() || path.equals(":memory:")) {
      throw new IllegalArgumentException(
          Secrets.redact(url)
              + " does not name a store file: a KVLog store is a file, never an in-memory"
              + " database; give "
              + option
              + PREFIX
              + "PATH"
              + (option.isEmpty() ? " or KVLog.open(Path)" : " or --file PATH"));
    }
    if (!uri && path.contains("%")) {
      // SQLite would take it literally, a reader of the URL might not: say it one way only.
      throw new IllegalArgumentException(
          Secrets.redact(url)
              + ": a % is read only in the URI form; give "
              + option
              + PREFIX
              + "file:PATH with each % written as %25"
              + (option.isEmpty() ? ", or KVLog.open(Path)" : ", or --file PATH"));
    }
    return Path.of(path);
  }

  /** {@code rest} in the plain form if it is a {@code file:} URI that can be written so. */
  private static String alone(String url, String rest) {
    if (rest.startsWith("file:")) {
      try {
        String path = decode(url, uriPath(url, rest.substring("file:".length())));
        if (!path.contains("%") && !path.contains("?") && !path.startsWith("file:")) {
          return path;
        }
      } catch (IllegalArgumentException notAPath) {
        // shown as written
      }
    }
    return rest;
  }

  /** The path of {@code file:P}: {@code P} without an empty or {@code localhost} authority. */
  private static String uriPath(String url, String p) {
    if (!p.startsWith("//")) {
      return p;
    }
    int slash = p.indexOf('/', 2);
    String authority = p.substring(2, slash < 0 ? p.length() : slash);
    if (!authority.isEmpty() && !authority.equals("localhost")) {
      throw new IllegalArgumentException(
          Secrets.redact(url) + " names host " + authority + "; give a local file path");
    }
    return p.substring(2 + authority.length());
  }

  /** {@code p} with its %HH escapes decoded as UTF-8, as SQLite reads a URI filename. */
  private static String decode(String url, String p) {
    if (p.indexOf('%') < 0) {
      return p;
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    for (int i = 0; i < p.length(); ) {
      char c = p.charAt(i);
      if (c == '%') {
        int hi = i + 2 < p.length() ? Character.digit(p.charAt(i + 1), 16) : -1;
        int lo = hi >= 0 ? Character.digit(p.charAt(i + 2), 16) : -1;
        if (lo < 0 || (hi == 0 && lo == 0)) {
          throw new IllegalArgumentException(
              Secrets.redact(url)
                  + ": a % in a file: URI starts an escape of two hex digits (not %00); write a"
                  + " % in a file name as %25");
        }
        bytes.write(hi * 16 + lo);
        i += 3;
      } else {
        int end = i + Character.charCount(p.codePointAt(i));
        bytes.writeBytes(p.substring(i, end).getBytes(StandardCharsets.UTF_8));
        i = end;
      }
    }
    return bytes.toString(StandardCharsets.UTF_8);
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
    Path named = file(url); // a URL KVLog cannot honour is refused before anything is touched
    settings.refuseAllBut("a " + PREFIX + " store", OPTIONS);
    Duration busyTimeout = orElse(settings.busyTimeout(), Duration.ofSeconds(5));
    boolean groupCommit = orElse(settings.groupCommit(), true);
    Duration externalChangeCheck = orElse(settings.externalChangeCheck(), Duration.ofSeconds(1));
    Long cacheSize = settings.cacheSize(); // null: the whole table in memory
    if (cacheSize != null) {
      requireCaffeine();
    }
    // A bounded open reads no data; a quick_check would read every page.
    boolean verifyOnOpen = orElse(settings.verifyOnOpen(), cacheSize == null);
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
    StoreFileSet files = StoreFileSet.of(StoreFiles.checkPath(named));
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
      int readers = cacheSize == null ? 0 : BoundedCache.readerConnections();
      database =
          Database.open(
              files,
              busyTimeout,
              WAL_LIMIT_BYTES,
              Database.POOL_SIZE + readers,
              pragmas,
              weakSyncForTests);
      Connection writer = database.connection();
      Housekeeper housekeeper = null;
      try {
        int version = Migrations.migrate(writer, file);
        CommitStats stats = new CommitStats();
        housekeeper =
            new Housekeeper(
                files, database.connection(), WAL_LIMIT_BYTES, externalChangeCheck, stats);
        ReadWriteLock publication = new ReentrantReadWriteLock();
        SqliteWriter log =
            new SqliteWriter(
                file,
                writer,
                cacheSize == null
                    ? warmCache(database, writer)
                    : boundedCache(database, writer, file, cacheSize, readers, publication),
                publication,
                groupCommit,
                housekeeper::afterCommit,
                stats);
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

  /** The whole table, loaded on the writer and two more connections (back to the pool after). */
  private static ExternalChanges.CacheFactory warmCache(Database database, Connection writer) {
    return inSnapshot -> {
      try (Connection loadHelper = database.connection();
          Connection loadPinner = database.connection()) {
        return WarmCache.load(writer, loadHelper, loadPinner, inSnapshot, TableLoader.CHUNK_BYTES);
      }
    };
  }

  /**
   * An empty bounded cache reading misses on {@code readers} connections it keeps; the versions are
   * read in one read transaction on the writer connection, with nothing loaded.
   */
  private static ExternalChanges.CacheFactory boundedCache(
      Database database,
      Connection writer,
      Path file,
      long maxBytes,
      int readers,
      ReadWriteLock publication) {
    return inSnapshot -> {
      try (Statement s = writer.createStatement()) {
        s.execute("BEGIN");
        try {
          inSnapshot.run();
        } finally {
          s.execute("COMMIT");
        }
      }
      List<Connection> connections = new ArrayList<>();
      try {
        for (int i = 0; i < readers; i++) {
          connections.add(database.connection());
        }
        return new BoundedCache(file, maxBytes, connections, publication.readLock());
      } catch (SQLException | RuntimeException e) {
        for (Connection c : connections) {
          try {
            c.close();
          } catch (SQLException again) {
            e.addSuppressed(again);
          }
        }
        throw e;
      }
    };
  }

  /** Refuses cacheSize with a clear message when Caffeine, an optional dependency, is missing. */
  private static void requireCaffeine() {
    try {
      Class.forName(
          "com.github.benmanes.caffeine.cache.Caffeine",
          false,
          SqliteProvider.class.getClassLoader());
    } catch (ClassNotFoundException | LinkageError e) {
      throw new IllegalStateException(
          "cacheSize needs Caffeine, an optional dependency of KVLog: add"
              + " com.github.ben-manes.caffeine:caffeine (3.x) to the class path (and, on the module"
              + " path, requires com.github.benmanes.caffeine), or leave cacheSize unset to keep the"
              + " whole table in memory",
          e);
    }
  }

  private static <T> T orElse(T value, T otherwise) {
    return value != null ? value : otherwise;
  }
}
