package dev.kvlog.sqlite;

import dev.kvlog.KVLogException;
import dev.kvlog.StoreLockedException;
import dev.kvlog.StoreOpenException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Makes one process, and one store object within it, the owner of a store: an OS lock ({@code
 * fcntl}) on {@code <db>-lock} plus a JVM-wide registry. The registry is thread-safe; an instance
 * is not (the opening thread uses it, then {@code close}, which is idempotent).
 *
 * <p>Invariant: one owner per store file, whatever the path. Across processes the OS lock decides;
 * it is on one file whatever path named the store, because {@link StoreFiles#checkPath} resolves
 * symbolic links, {@link StoreFiles#check} refuses a store file with several hard links, a bind
 * mount of the directory reaches the same directory inode and so the same lock file, and a bind
 * mount of the single file is refused ({@link MountPoints}). Within this JVM the registry decides,
 * keyed by identities that no path can disguise: the lock file's directory entry (the directory's
 * device and inode plus the name), the database file's and the lock file's own device and inode.
 *
 * <p>Invariant: no path closes a descriptor of a lock file that another owner in this JVM holds.
 * Closing any descriptor of a file drops every POSIX lock this process holds on it, so the registry
 * is consulted <em>before</em> the lock file is opened. Should a door the registry missed still
 * reach a lock this JVM holds ({@link OverlappingFileLockException}), that channel is kept open
 * forever instead of being closed.
 *
 * <p>Invariant: the lock file is deleted only by the process holding its lock, and an opener holds
 * a lock only if, after locking, the path still names the file it locked ({@link #acquire}); so a
 * deletion can never give two owners (one locking a file without a name, one a new file). It is
 * never followed if it is a symbolic link, and must be a regular file.
 *
 * <p>The OS releases the lock when the owner dies, so a stale lock file left by a crash never
 * blocks a reopen. The file is created only once the store file has passed every check ({@link
 * #lock}), deleted again if the open is refused after all ({@link #closeRefused}: SQLite's own lock
 * held by another connection, say), and left in place on close. A store opened before is locked
 * first ({@link #lockIfExists}) so that an owned store is refused before anything reads it.
 */
public final class OwnerLock implements AutoCloseable {
  /** Identities of the stores owned in this JVM. Guarded by itself. */
  private static final Set<Object> HELD_IN_THIS_JVM = new HashSet<>();

  /** Channels on a lock file another owner here holds: closing one would drop that owner's lock. */
  private static final List<FileChannel> NEVER_CLOSED = new ArrayList<>();

  /** Test seam: runs after the lock file is opened and before it is locked. */
  static volatile Runnable beforeLock = () -> {};

  private final Path database;
  private final Path lockFile;
  private final List<Object> keys; // guarded by HELD_IN_THIS_JVM
  private FileChannel channel; // null until locked
  private FileLock lock;
  private boolean created; // this object created the lock file

  private OwnerLock(Path database, Path lockFile, List<Object> keys) {
    this.database = database;
    this.lockFile = lockFile;
    this.keys = keys;
  }

  /** The lock file of {@code database}. */
  public static Path lockFile(Path database) {
    return StoreFileSet.of(database).lock();
  }

  /**
   * Reserves {@code database} (its real path, from {@link StoreFiles#checkPath}) in this JVM,
   * opening nothing. The returned object owns the store once {@link #lock} succeeds; {@link #close}
   * releases whatever it holds.
   *
   * @throws StoreLockedException if another store object in this JVM has the store open, through
   *     any path
   * @throws StoreOpenException if the directory cannot be read
   */
  static OwnerLock reserve(StoreFileSet files) {
    Path database = files.database();
    Path lockFile = files.lock();
    List<Object> keys = new ArrayList<>();
    Object directory = StoreFiles.fileKey(database.getParent());
    if (directory == null) {
      throw new StoreOpenException("cannot read the directory of " + database);
    }
    keys.add(List.of("entry", directory, lockFile.getFileName().toString()));
    addFileKey(keys, database);
    Object lockKey = StoreFiles.fileKeyNoFollow(lockFile); // a link there is refused, not followed
    if (lockKey != null) {
      keys.add(List.of("inode", lockKey));
    }
    synchronized (HELD_IN_THIS_JVM) {
      for (Object key : keys) {
        if (HELD_IN_THIS_JVM.contains(key)) {
          throw new StoreLockedException(
              database
                  + " is already open in this JVM (perhaps under another path: a symbolic link or"
                  + " bind mount); share that KVLog instance (it is thread-safe) instead of"
                  + " opening the store twice");
        }
      }
      HELD_IN_THIS_JVM.addAll(keys);
    }
    return new OwnerLock(database, lockFile, keys);
  }

  private static void addFileKey(List<Object> keys, Path file) {
    Object key = StoreFiles.fileKey(file);
    if (key != null) {
      keys.add(List.of("inode", key));
    }
  }

  /**
   * Adds the identity of the database file, if it was created after {@link #reserve}, to this JVM's
   * registry.
   *
   * @throws StoreLockedException if another store in this JVM has that file open
   */
  public void reserveCreated() {
    List<Object> more = new ArrayList<>();
    addFileKey(more, database);
    more.removeAll(keys);
    synchronized (HELD_IN_THIS_JVM) {
      for (Object key : more) {
        if (HELD_IN_THIS_JVM.contains(key)) { // renamed or linked here from an open store
          throw new StoreLockedException(
              database + " is the file of a store already open in this JVM under another name");
        }
      }
      HELD_IN_THIS_JVM.addAll(more);
      keys.addAll(more);
    }
  }

  /**
   * Takes the OS lock if the lock file exists, creating and writing nothing; does nothing if it
   * does not exist yet.
   *
   * @throws StoreLockedException if another process owns the store
   * @throws StoreOpenException if the lock file is not a regular file, or cannot be opened or
   *     locked
   */
  public void lockIfExists() {
    acquire(false);
  }

  /**
   * Takes the OS lock (creating the lock file owner-only if needed) unless already held, and
   * records this process's id in it.
   *
   * @throws StoreLockedException if another process owns the store
   * @throws StoreOpenException if the lock file is not a regular file, or cannot be created, locked
   *     or written
   */
  public void lock() {
    if (acquire(true)) {
      created = true;
      StoreFiles.syncDirectory(lockFile.getParent());
    }
    try {
      channel.truncate(0);
      channel.write(
          ByteBuffer.wrap(
              ("pid " + ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.UTF_8)),
          0);
      channel.force(true);
    } catch (IOException e) {
      throw cannotLock(e);
    }
  }

  /**
   * The lock-file protocol: open the file without following a symbolic link, lock it, then check
   * that the path still names the file locked (a refused opener may have deleted it meanwhile,
   * {@link #closeRefused}); if not, let go and start again. Java cannot {@code fstat} a channel, so
   * "the file locked" is the file the path named just before and just after it was opened: a
   * mismatch is caught unless an inode number is freed and reused within those microseconds.
   * Returns whether this call created the lock file.
   */
  private boolean acquire(boolean create) {
    if (lock != null) {
      return false;
    }
    for (int attempt = 1; ; attempt++) {
      if (attempt > 100) {
        throw new StoreOpenException(
            lockFile
                + " was replaced 100 times while KVLog tried to lock it; is another program"
                + " deleting and recreating it? Stop it and retry");
      }
      Object before = regularFileKey(lockFile);
      if (before == null && !create) {
        return false; // not created yet; lock() will
      }
      FileChannel opened;
      try {
        opened =
            before == null
                ? FileChannel.open(
                    lockFile,
                    Set.of(
                        StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.READ,
                        StandardOpenOption.WRITE,
                        LinkOption.NOFOLLOW_LINKS),
                    StoreFiles.ownerOnly())
                : FileChannel.open(
                    lockFile,
                    StandardOpenOption.READ,
                    StandardOpenOption.WRITE,
                    LinkOption.NOFOLLOW_LINKS);
      } catch (FileAlreadyExistsException | NoSuchFileException e) {
        if (before == null && e instanceof NoSuchFileException) {
          throw cannotCreate(e); // the directory refuses new files (a dangling path, /proc)
        }
        continue; // created or deleted since the look: look again
      } catch (IOException e) {
        regularFileKey(lockFile); // a symbolic link or a directory put there meanwhile: say so
        throw before == null ? cannotCreate(e) : cannotLock(e);
      }
      Object opening = StoreFiles.fileKeyNoFollow(lockFile);
      if (opening == null || (before != null && !before.equals(opening))) {
        closeUnlocked(opened); // replaced since the look; nothing of ours is locked on it
        continue;
      }
      beforeLock.run();
      FileLock taken;
      try {
        taken = opened.tryLock();
      } catch (OverlappingFileLockException e) {
        synchronized (NEVER_CLOSED) {
          NEVER_CLOSED.add(opened);
        }
        throw new StoreLockedException(
            database
                + " is already open in this JVM under another path to its lock file "
                + lockFile
                + "; share that KVLog instance (it is thread-safe) instead of opening the store"
                + " twice");
      } catch (IOException e) {
        closeUnlocked(opened); // no lock in this JVM on it, or tryLock would have said overlapping
        throw cannotLock(e);
      }
      if (taken == null) {
        String pid = readOwner(opened);
        closeUnlocked(opened); // as above: the lock is another process's
        throw new StoreLockedException(
            database
                + " is open for writing by another process ("
                + pid
                + ", per "
                + lockFile
                + "); close the store there first. Read-only inspection with sqlite3 is fine.");
      }
      if (!opening.equals(StoreFiles.fileKeyNoFollow(lockFile))) {
        // Deleted by a refused opener that held it: a lock on a file without a name excludes
        // no one, so this one is worthless. Releasing drops only this lock (ours, unshared).
        release(taken, opened);
        continue;
      }
      channel = opened;
      lock = taken;
      return before == null;
    }
  }

  /**
   * The lock file's identity if it is a regular file, null if it does not exist.
   *
   * @throws StoreOpenException if it is a symbolic link (KVLog would write through it into another
   *     file), a directory, a FIFO or anything else that is not a regular file
   */
  private Object regularFileKey(Path file) {
    BasicFileAttributes attributes;
    try {
      attributes = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return null;
    } catch (IOException e) {
      throw cannotLock(e);
    }
    if (attributes.isRegularFile()) {
      return attributes.fileKey();
    }
    String what =
        attributes.isSymbolicLink()
            ? "a symbolic link (KVLog never follows one there: it would write into the file it"
                + " points to)"
            : attributes.isDirectory()
                ? "a directory"
                : "not a regular file (a FIFO, socket or device?)";
    throw new StoreOpenException(
        "the lock file "
            + file
            + " of "
            + database
            + " is "
            + what
            + "; KVLog creates that name itself as a small regular file. Remove "
            + file
            + " (after checking that nothing needs it) and retry");
  }

  private static void release(FileLock taken, FileChannel opened) {
    try {
      taken.release();
    } catch (IOException ignored) {
      // closing the channel below releases it anyway
    }
    closeUnlocked(opened);
  }

  private StoreOpenException cannotCreate(IOException e) {
    return new StoreOpenException(
        "cannot create the lock file "
            + lockFile
            + " ("
            + e
            + "); KVLog creates it beside "
            + database.getFileName()
            + ", so the store must be in an existing, writable directory on a local file system:"
            + " choose such a path",
        e);
  }

  private StoreOpenException cannotLock(IOException e) {
    return new StoreOpenException(
        "cannot open or lock the lock file "
            + lockFile
            + " ("
            + e
            + "); it must be a regular file readable and writable by this process, on a local"
            + " file system that supports fcntl locks",
        e);
  }

  private static String readOwner(FileChannel channel) {
    try {
      ByteBuffer buffer = ByteBuffer.allocate(64);
      channel.read(buffer, 0);
      String text = new String(buffer.array(), 0, buffer.position(), StandardCharsets.UTF_8).trim();
      return text.isEmpty() ? "pid unknown" : text;
    } catch (IOException e) {
      return "pid unknown";
    }
  }

  private static void closeUnlocked(FileChannel channel) {
    try {
      channel.close();
    } catch (IOException ignored) {
      // Nothing was locked through this channel; the failure being reported matters more.
    }
  }

  /**
   * For an open that was refused: deletes the lock file if this object created it, while still
   * holding its lock (so no one can have locked it in between; whoever opened it meanwhile finds,
   * after locking, that the name is gone, and starts again), then releases as {@link #close} does.
   * Best effort: a lock file that cannot be deleted is left, which is harmless.
   */
  public void closeRefused() {
    if (created && lock != null) {
      try {
        Files.delete(lockFile);
      } catch (IOException ignored) {
        // a stale lock file blocks nothing: the OS lock, not the file, decides
      }
    }
    close();
  }

  /** Releases the lock and the reservation; the file stays. Idempotent. */
  @Override
  public void close() {
    try {
      if (lock != null) {
        lock.release();
        channel.close();
      }
    } catch (IOException e) {
      throw new KVLogException("cannot release the owner lock of " + database + ": " + e, e);
    } finally {
      lock = null;
      channel = null;
      synchronized (HELD_IN_THIS_JVM) {
        HELD_IN_THIS_JVM.removeAll(keys);
        keys.clear();
      }
    }
  }
}
