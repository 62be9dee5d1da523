package dev.kvlog.sqlite;

import dev.kvlog.StoreOpenException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The checks and file-system steps done before SQLite sees a path: find the store's one real name,
 * refuse what is not a database file, and create a new database owner-only (SQLite gives {@code
 * -wal} and {@code -shm} the permissions of the database file). Runs before any connection of the
 * store is open. Stateless and thread-safe.
 *
 * <p>Invariant: refusing a file never changes it. Everything here that can refuse an existing file
 * only reads its metadata; the database file is created, and the {@code -lock} file too, only once
 * every check has passed. Doors: a symbolic link (resolved by {@link #checkPath}, physically, so
 * {@code link/..} means what the OS means), a hard link (refused by {@link #check}), a bind mount
 * of the directory (same directory inode: one lock file, see {@link OwnerLock}), a bind mount of
 * the single file (refused, {@link MountPoints}), a {@code -wal}, {@code -shm} or {@code -journal}
 * that is a link or a directory (refused by {@link #check}: SQLite would follow it or fail on it).
 * Not covered: renaming or unlinking the file of an open store (SQLite's own "how to corrupt"
 * list), which no lock file can see.
 */
public final class StoreFiles {
  private static final boolean POSIX =
      FileSystems.getDefault().supportedFileAttributeViews().contains("posix");

  /** A SQLite database is at least one page, and a page at least 512 bytes. */
  private static final long MIN_SQLITE_FILE = 512;

  private StoreFiles() {}

  /**
   * Returns the one name of the store file that every path to it maps to: symbolic links resolved
   * (of the file if it exists, else of its directory), so the {@code -wal}, {@code -shm} and {@code
   * -lock} files are named after the real file whatever path the caller gave. Resolution is
   * physical, as the OS does it: {@code a/link/../kv.db} is the {@code kv.db} beside the link's
   * target, never {@code a/kv.db} (no lexical {@code normalize()} before links are resolved).
   * Creates the directory if needed and checks that it is writable.
   *
   * @throws StoreOpenException if the path is a directory, a symbolic link into a directory that
   *     does not exist, a mount point of its own (a single-file bind mount), or its directory
   *     cannot be created or written
   */
  public static Path checkPath(Path file) {
    Path path = physical(file.toAbsolutePath());
    Path real;
    if (Files.isSymbolicLink(path) && !Files.exists(path)) {
      real = newFileThroughLinks(path);
    } else {
      if (Files.isDirectory(path)) {
        throw new StoreOpenException(
            path
                + " is a directory; give KVLog the path of a database file, such as "
                + path.resolve("kv.db"));
      }
      Path name = fileName(path);
      Path dir = path.getParent();
      try {
        Files.createDirectories(dir);
      } catch (IOException e) {
        throw new StoreOpenException("cannot create directory " + dir + " for the store: " + e, e);
      }
      try {
        real = Files.exists(path) ? path.toRealPath() : dir.toRealPath().resolve(name.toString());
      } catch (IOException e) {
        throw new StoreOpenException("cannot resolve " + path + " to its real path: " + e, e);
      }
    }
    if (!Files.isWritable(real.getParent())) {
      throw new StoreOpenException(
          "directory "
              + real.getParent()
              + " is not writable; SQLite must create "
              + real.getFileName()
              + "-wal and -shm beside the database: grant write access or choose another path");
    }
    MountPoints.refuseFileMount(real);
    return real;
  }

  /**
   * The real path of an existing file, resolved physically as the OS does ({@code link/..} is the
   * parent of the link's target). For files KVLog only reads: {@code KVLog.check(path)}.
   *
   * @throws StoreOpenException if the file does not exist or cannot be resolved
   */
  public static Path existingFile(Path file) {
    try {
      return file.toAbsolutePath().toRealPath();
    } catch (NoSuchFileException e) {
      throw new StoreOpenException(file.toAbsolutePath() + " does not exist or is not a file", e);
    } catch (IOException e) {
      throw new StoreOpenException("cannot resolve " + file + " to its real path: " + e, e);
    }
  }

  /**
   * The real path a new file at {@code file} would get: its directory resolved physically, its name
   * kept. For backup targets, which must not exist.
   *
   * @throws IllegalArgumentException if the directory does not exist or the name is not a file name
   */
  public static Path newFile(Path file) {
    Path path = file.toAbsolutePath();
    Path name = fileName(path);
    try {
      return path.getParent().toRealPath().resolve(name.toString());
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "directory " + path.getParent() + " does not exist (" + e + "); create it first", e);
    }
  }

  /**
   * {@code path} (absolute) with its longest existing prefix replaced by that prefix's real path,
   * as the OS resolves it; the rest, which does not exist and so holds no links, is normalized
   * lexically ({@code missing/..} then means what it would once {@code missing} were created). May
   * still end in a dangling symbolic link.
   */
  private static Path physical(Path path) {
    Path prefix = path;
    while (prefix != null && !Files.exists(prefix)) {
      prefix = prefix.getParent();
    }
    if (prefix == null) {
      return path.normalize();
    }
    Path real;
    try {
      real = prefix.toRealPath();
    } catch (IOException e) {
      throw new StoreOpenException("cannot resolve " + prefix + " to its real path: " + e, e);
    }
    if (prefix.getNameCount() == path.getNameCount()) {
      return real;
    }
    Path rest = path.subpath(prefix.getNameCount(), path.getNameCount());
    Path candidate = real.resolve(rest).normalize();
    // With ".." gone, names of the rest may now exist (missing/../link): resolve them too.
    return rest.normalize().equals(rest) ? candidate : physical(candidate);
  }

  /** The last element of {@code path}, which must name a file: not {@code .} or {@code ..}. */
  private static Path fileName(Path path) {
    Path name = path.getFileName();
    if (name == null || name.toString().equals(".") || name.toString().equals("..")) {
      throw new StoreOpenException(
          path + " does not end in a file name; give the path of a database file, such as kv.db");
    }
    return name;
  }

  /**
   * The real path of a store to be created through a symbolic link whose target does not exist yet:
   * SQLite would create the file at the target, so the sidecar files must be named after the target
   * too. The target's directory must exist: KVLog does not create directories a link points into.
   * Each link target is resolved against the real directory of the link, physically.
   */
  private static Path newFileThroughLinks(Path link) {
    Path at = link;
    try {
      for (int hops = 0; Files.isSymbolicLink(at) && !Files.exists(at); hops++) {
        if (hops == 40) {
          throw new StoreOpenException(link + ": too many levels of symbolic links");
        }
        at = at.getParent().toRealPath().resolve(Files.readSymbolicLink(at));
      }
      if (Files.exists(at)) {
        return checkPath(at);
      }
      Path dir = at.getParent();
      if (dir == null || !Files.isDirectory(dir)) {
        throw new StoreOpenException(
            link
                + " is a symbolic link to "
                + at
                + ", whose directory does not exist; create "
                + dir
                + " or give the real path");
      }
      return dir.toRealPath().resolve(fileName(at).toString());
    } catch (IOException e) {
      throw new StoreOpenException("cannot resolve the symbolic link " + link + ": " + e, e);
    }
  }

  /**
   * Refuses an existing {@code database} that KVLog must not open, from its metadata alone: not a
   * regular file, not readable and writable, more than one name (hard links), or shorter than any
   * SQLite database. A missing or empty file passes. Its content is judged by SQLite ({@link
   * Database#checkIsStore}): KVLog never opens the database file with Java I/O, since closing that
   * descriptor would drop the POSIX locks of every SQLite connection in this process on the file (a
   * reader's, or another store's).
   */
  static void check(StoreFileSet files) {
    Path database = files.database();
    for (Path sidecar : files.sqliteSidecars()) {
      refuseObstacle(database, sidecar);
    }
    try {
      if (!Files.exists(database)) {
        return;
      }
      if (!Files.isRegularFile(database)) {
        throw new StoreOpenException(database + " is not a regular file; refusing to open it");
      }
      int links = linkCount(database);
      if (links > 1) {
        // Each name would get its own -wal, -shm and -lock: two owners, each blind to the other's
        // commits (acknowledged writes were lost that way).
        throw new StoreOpenException(
            database
                + " has "
                + links
                + " hard links (names); KVLog refuses it because each name would get its own"
                + " -wal and -lock, letting two processes own one store and lose each other's"
                + " writes. Keep one name: remove the other names (find them with"
                + " find / -samefile "
                + database
                + ") or move a copy into place");
      }
      if (!Files.isReadable(database) || !Files.isWritable(database)) {
        throw new StoreOpenException(
            database + " is not readable and writable by this process; fix its permissions");
      }
      long size = Files.size(database);
      if (size > 0 && size < MIN_SQLITE_FILE) {
        // SQLite would take it for an empty database and write its header over the bytes.
        throw new StoreOpenException(
            database
                + " is not a KVLog store (file is not a SQLite database); refusing to open it");
      }
    } catch (IOException e) {
      throw new StoreOpenException("cannot read " + database + ": " + e, e);
    }
  }

  /**
   * Refuses a {@code -wal}, {@code -shm} or {@code -journal} name that is not a regular file:
   * SQLite would follow a symbolic link (writing its log into another file, or timing out on it)
   * and cannot use a directory (every write would fail). Metadata only, so the refusal changes
   * nothing.
   */
  private static void refuseObstacle(Path database, Path sidecar) {
    BasicFileAttributes attributes;
    try {
      attributes =
          Files.readAttributes(sidecar, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return;
    } catch (IOException e) {
      throw new StoreOpenException("cannot read " + sidecar + ": " + e, e);
    }
    if (attributes.isRegularFile()) {
      return;
    }
    String what =
        attributes.isSymbolicLink()
            ? "a symbolic link"
            : attributes.isDirectory() ? "a directory" : "not a regular file";
    throw new StoreOpenException(
        sidecar
            + " is "
            + what
            + "; SQLite keeps its own regular file under that name beside "
            + database.getFileName()
            + " and would follow a link or fail on anything else, so KVLog refuses to open the"
            + " store. Remove "
            + sidecar
            + " (it is not part of the store) and retry");
  }

  /** Creates {@code database} empty and owner-only if it does not exist; true if it did. */
  public static boolean createIfMissing(Path database) {
    try {
      Files.createFile(database, ownerOnly());
      syncDirectory(database.getParent());
      return true;
    } catch (java.nio.file.FileAlreadyExistsException e) {
      return false;
    } catch (IOException e) {
      throw new StoreOpenException("cannot create " + database + ": " + e, e);
    }
  }

  /**
   * Makes an empty {@code database} owner-only ({@code rw-------}), as a store KVLog creates is.
   * The rule for an existing empty file ({@code touch kv.db}): the owner that opens it adopts it as
   * a new store, and since it holds no data yet, its mode is tightened rather than kept, so every
   * store starts owner-only whoever made the file. A file with content keeps its mode (the user
   * chose it for data that is there). Call only as the owner. No-op without POSIX permissions.
   */
  static void ownerOnlyIfEmpty(Path database) {
    if (!POSIX) {
      return;
    }
    try {
      if (Files.size(database) == 0) {
        Files.setPosixFilePermissions(database, PosixFilePermissions.fromString("rw-------"));
      }
    } catch (IOException e) {
      throw new StoreOpenException(
          "cannot make the empty file "
              + database
              + " owner-only (rw-------) to adopt it as a new store: "
              + e
              + "; chmod 600 it as its owner, or delete it and let KVLog create the store",
          e);
    }
  }

  /** The number of names of {@code file}, or 1 where the file system does not say. */
  static int linkCount(Path file) throws IOException {
    try {
      return ((Number) Files.getAttribute(file, "unix:nlink")).intValue();
    } catch (UnsupportedOperationException | IllegalArgumentException e) {
      return 1; // not a Unix file system (Windows): hard links to a store go undetected there
    }
  }

  /** Which of the {@code -wal} and {@code -shm} files of the store exist now. */
  static boolean[] sidecars(StoreFileSet files) {
    return new boolean[] {Files.exists(files.wal()), Files.exists(files.shm())};
  }

  /**
   * After an open that failed while holding the owner lock (the pool refused its pragmas, say),
   * deletes the {@code -wal} and {@code -shm} files that the failed open created (they did not
   * exist in {@code before}) if they hold nothing. Files that could be refused were refused before
   * anything created sidecars; this only tidies up after the pool.
   */
  static void removeCreatedSidecars(StoreFileSet files, boolean[] before) {
    Path wal = files.wal();
    try {
      // Only an empty WAL: one with frames might hold another process's commits.
      if (!before[0] && Files.exists(wal) && Files.size(wal) == 0) {
        Files.delete(wal);
      }
      // A connection in WAL mode always has a -wal file; with none left, no one uses the -shm.
      if (!before[1] && !Files.exists(wal)) {
        Files.deleteIfExists(files.shm());
      }
    } catch (IOException e) {
      // best effort: the refusal being reported matters more
    }
  }

  /** The identity of {@code file} itself, not of a link's target; null if it does not exist. */
  public static Object fileKeyNoFollow(Path file) {
    try {
      return Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
          .fileKey();
    } catch (IOException e) {
      return null;
    }
  }

  /** The file's identity (device and inode on Unix), or null if it does not exist. */
  public static Object fileKey(Path file) {
    try {
      return java.nio.file.Files.readAttributes(
              file, java.nio.file.attribute.BasicFileAttributes.class)
          .fileKey();
    } catch (IOException e) {
      return null;
    }
  }

  /** rw------- where the file system knows POSIX permissions; nothing elsewhere. */
  public static FileAttribute<?>[] ownerOnly() {
    return POSIX
        ? new FileAttribute<?>[] {
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))
        }
        : new FileAttribute<?>[0];
  }

  /** Makes a file creation in {@code dir} durable (a no-op where directories cannot be opened). */
  public static void syncDirectory(Path dir) {
    try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
      channel.force(true);
    } catch (IOException e) {
      // Windows cannot open a directory; there, NTFS journals the directory entry itself.
    }
  }
}
