/*
 * powercut: an LD_PRELOAD library that makes a SIGKILL behave like a power cut for chosen files.
 *
 * Writes to files whose path starts with $POWERCUT_MATCH (except "-shm" and "-lock" files) are
 * held in this process's memory, not given to the kernel, until fsync/fdatasync on that file;
 * reads, sizes and truncations are served from that overlay so the process sees its own writes.
 * When the process is killed, everything it never synced vanishes, exactly what a power cut does
 * to the page cache; what it did sync is on disk. The kernel page cache normally survives a
 * SIGKILL, which is why a plain kill -9 test cannot tell synchronous=FULL from NORMAL or OFF.
 *
 * $POWERCUT_LEAK=N (optional): each unsynced write also reaches the disk with probability 1/N,
 * cut at a random 512-byte sector boundary: the kernel may have written back any part of any
 * unsynced write before the power went, and recovery must cope with such torn, partial data.
 *
 * Not modelled: loss of directory entries (files are created for real), reordering of synced
 * writes by the device, mmap'ed writes (SQLite only maps the -shm file, which is excluded).
 * Linux and glibc only. Test-only code: built by the test suite with the machine's gcc.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FD 65536
#define MAX_FILES 64

/* One tracked file: its whole content as this process sees it, and what differs from the disk. */
typedef struct {
  dev_t dev;
  ino_t ino;
  int used;
  char *data;        /* content as seen by the process */
  size_t size;       /* logical size */
  size_t capacity;
  size_t disk_size;  /* size on disk */
  unsigned char *dirty; /* one flag per 4 KiB block: differs from the disk */
  size_t dirty_blocks;
} file_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static file_t files[MAX_FILES];
static signed char fd_file[MAX_FD]; /* fd -> index in files + 1; 0 = not tracked */
static const char *match;
static size_t match_len;
static unsigned leak_one_in;
static unsigned long long rng = 88172645463325252ULL;

static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_fstat)(int, struct stat *);
static off_t (*real_lseek)(int, off_t, int);

static void init(void) {
  static int done;
  if (done) return;
  real_pread = dlsym(RTLD_NEXT, "pread64");
  real_pwrite = dlsym(RTLD_NEXT, "pwrite64");
  real_read = dlsym(RTLD_NEXT, "read");
  real_write = dlsym(RTLD_NEXT, "write");
  real_open = dlsym(RTLD_NEXT, "open64");
  real_openat = dlsym(RTLD_NEXT, "openat64");
  real_close = dlsym(RTLD_NEXT, "close");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_ftruncate = dlsym(RTLD_NEXT, "ftruncate64");
  real_fstat = dlsym(RTLD_NEXT, "fstat64");
  real_lseek = dlsym(RTLD_NEXT, "lseek64");
  match = getenv("POWERCUT_MATCH");
  match_len = match ? strlen(match) : 0;
  const char *leak = getenv("POWERCUT_LEAK");
  leak_one_in = leak ? (unsigned)atoi(leak) : 0;
  const char *seed = getenv("POWERCUT_SEED");
  if (seed) rng ^= strtoull(seed, NULL, 10) * 2654435761ULL;
  done = 1;
}

static unsigned long long next_random(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static int tracked_path(const char *path) {
  if (!match_len || !path || strncmp(path, match, match_len) != 0) return 0;
  size_t n = strlen(path);
  if (n >= 4 && strcmp(path + n - 4, "-shm") == 0) return 0;
  if (n >= 5 && strcmp(path + n - 5, "-lock") == 0) return 0;
  return 1;
}

static int grow(file_t *f, size_t size) {
  if (size > f->capacity) {
    size_t cap = f->capacity ? f->capacity : 65536;
    while (cap < size) cap *= 2;
    char *d = realloc(f->data, cap);
    if (!d) return -1;
    memset(d + f->capacity, 0, cap - f->capacity);
    f->data = d;
    size_t blocks = (cap + 4095) / 4096;
    unsigned char *dirty = realloc(f->dirty, blocks);
    if (!dirty) return -1;
    memset(dirty + f->dirty_blocks, 0, blocks - f->dirty_blocks);
    f->dirty = dirty;
    f->dirty_blocks = blocks;
    f->capacity = cap;
  }
  if (size > f->size) {
    memset(f->data + f->size, 0, size - f->size);
    f->size = size;
  }
  return 0;
}

/* Called with mu held, on a fresh fd of a tracked path. */
static void track(int fd) {
  struct stat st;
  if (fd < 0 || fd >= MAX_FD || real_fstat(fd, &st) != 0) return;
  for (int i = 0; i < MAX_FILES; i++) {
    if (files[i].used && files[i].dev == st.st_dev && files[i].ino == st.st_ino) {
      fd_file[fd] = (signed char)(i + 1);
      return;
    }
  }
  for (int i = 0; i < MAX_FILES; i++) {
    if (!files[i].used) {
      file_t *f = &files[i];
      memset(f, 0, sizeof *f);
      f->used = 1;
      f->dev = st.st_dev;
      f->ino = st.st_ino;
      if (grow(f, (size_t)st.st_size) != 0) abort();
      size_t got = 0;
      while (got < (size_t)st.st_size) {
        ssize_t r = real_pread(fd, f->data + got, (size_t)st.st_size - got, (off_t)got);
        if (r <= 0) break;
        got += (size_t)r;
      }
      f->disk_size = (size_t)st.st_size;
      fd_file[fd] = (signed char)(i + 1);
      return;
    }
  }
  abort(); /* too many files for a test */
}

static file_t *file_of(int fd) {
  if (fd < 0 || fd >= MAX_FD || !fd_file[fd]) return NULL;
  return &files[fd_file[fd] - 1];
}

static int flush(int fd, file_t *f) {
  for (size_t b = 0; b < f->dirty_blocks; b++) {
    if (!f->dirty[b]) continue;
    size_t start = b * 4096;
    if (start >= f->size) {
      f->dirty[b] = 0;
      continue;
    }
    size_t len = f->size - start < 4096 ? f->size - start : 4096;
    if (real_pwrite(fd, f->data + start, len, (off_t)start) != (ssize_t)len) return -1;
    f->dirty[b] = 0;
  }
  if (f->disk_size != f->size) {
    if (real_ftruncate(fd, (off_t)f->size) != 0) return -1;
    f->disk_size = f->size;
  }
  return 0;
}

int open64(const char *path, int flags, ...) {
  init();
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  int fd = real_open(path, flags, mode);
  if (fd >= 0 && tracked_path(path)) {
    pthread_mutex_lock(&mu);
    track(fd);
    pthread_mutex_unlock(&mu);
  }
  return fd;
}
int open(const char *path, int flags, ...) __attribute__((alias("open64")));

int openat64(int dirfd, const char *path, int flags, ...) {
  init();
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, mode_t);
    va_end(ap);
  }
  int fd = real_openat(dirfd, path, flags, mode);
  if (fd >= 0 && path && path[0] == '/' && tracked_path(path)) {
    pthread_mutex_lock(&mu);
    track(fd);
    pthread_mutex_unlock(&mu);
  }
  return fd;
}
int openat(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat64")));

int close(int fd) {
  init();
  if (fd >= 0 && fd < MAX_FD && fd_file[fd]) {
    pthread_mutex_lock(&mu);
    fd_file[fd] = 0; /* the overlay stays: other fds, or a later open, still see it */
    pthread_mutex_unlock(&mu);
  }
  return real_close(fd);
}

ssize_t pread64(int fd, void *buf, size_t count, off_t offset) {
  init();
  file_t *f = file_of(fd);
  if (!f) return real_pread(fd, buf, count, offset);
  pthread_mutex_lock(&mu);
  ssize_t n = 0;
  if ((size_t)offset < f->size) {
    n = (ssize_t)((size_t)offset + count <= f->size ? count : f->size - (size_t)offset);
    memcpy(buf, f->data + offset, (size_t)n);
  }
  pthread_mutex_unlock(&mu);
  return n;
}
ssize_t pread(int fd, void *buf, size_t count, off_t offset) __attribute__((alias("pread64")));

static void leak(int fd, file_t *f, size_t offset, size_t count) {
  if (!leak_one_in || next_random() % leak_one_in) return;
  size_t sectors = (count + 511) / 512;
  size_t keep = (size_t)(next_random() % (sectors + 1)) * 512;
  if (keep > count) keep = count;
  if (keep) {
    real_pwrite(fd, f->data + offset, keep, (off_t)offset);
    if (offset + keep > f->disk_size) f->disk_size = offset + keep;
  }
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
  init();
  file_t *f = file_of(fd);
  if (!f) return real_pwrite(fd, buf, count, offset);
  pthread_mutex_lock(&mu);
  if (grow(f, (size_t)offset + count) != 0) {
    pthread_mutex_unlock(&mu);
    errno = ENOMEM;
    return -1;
  }
  memcpy(f->data + offset, buf, count);
  for (size_t b = (size_t)offset / 4096; b <= ((size_t)offset + count - 1) / 4096 && count; b++) {
    f->dirty[b] = 1;
  }
  leak(fd, f, (size_t)offset, count);
  pthread_mutex_unlock(&mu);
  return (ssize_t)count;
}
ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
    __attribute__((alias("pwrite64")));

ssize_t read(int fd, void *buf, size_t count) {
  init();
  file_t *f = file_of(fd);
  if (!f) return real_read(fd, buf, count);
  off_t pos = real_lseek(fd, 0, SEEK_CUR);
  ssize_t n = pread64(fd, buf, count, pos);
  if (n > 0) real_lseek(fd, pos + n, SEEK_SET);
  return n;
}

ssize_t write(int fd, const void *buf, size_t count) {
  init();
  file_t *f = file_of(fd);
  if (!f) return real_write(fd, buf, count);
  off_t pos = real_lseek(fd, 0, SEEK_CUR);
  ssize_t n = pwrite64(fd, buf, count, pos);
  if (n > 0) real_lseek(fd, pos + n, SEEK_SET);
  return n;
}

int ftruncate64(int fd, off_t length) {
  init();
  file_t *f = file_of(fd);
  if (!f) return real_ftruncate(fd, length);
  pthread_mutex_lock(&mu);
  if ((size_t)length > f->size) {
    grow(f, (size_t)length);
  } else {
    f->size = (size_t)length;
  }
  pthread_mutex_unlock(&mu);
  return 0;
}
int ftruncate(int fd, off_t length) __attribute__((alias("ftruncate64")));

static int fstat_impl(int fd, struct stat *st) {
  init();
  int r = real_fstat(fd, st);
  file_t *f = file_of(fd);
  if (r == 0 && f) {
    pthread_mutex_lock(&mu);
    st->st_size = (off_t)f->size;
    pthread_mutex_unlock(&mu);
  }
  return r;
}
int fstat64(int fd, struct stat64 *st) { return fstat_impl(fd, (struct stat *)st); }
int fstat(int fd, struct stat *st) { return fstat_impl(fd, st); }

static int sync_file(int fd, int (*real)(int)) {
  init();
  file_t *f = file_of(fd);
  if (f) {
    pthread_mutex_lock(&mu);
    int r = flush(fd, f);
    pthread_mutex_unlock(&mu);
    if (r != 0) return -1;
  }
  return real(fd);
}

int fsync(int fd) { return sync_file(fd, real_fsync); }
int fdatasync(int fd) { return sync_file(fd, real_fdatasync); }

/* A deleted file's inode can be reused by the next file created: forget its overlay. */
static void forget(const char *path) {
  struct stat st;
  if (!tracked_path(path) || stat(path, &st) != 0) return;
  pthread_mutex_lock(&mu);
  for (int i = 0; i < MAX_FILES; i++) {
    if (files[i].used && files[i].dev == st.st_dev && files[i].ino == st.st_ino) {
      free(files[i].data);
      free(files[i].dirty);
      memset(&files[i], 0, sizeof files[i]);
      for (int fd = 0; fd < MAX_FD; fd++) {
        if (fd_file[fd] == i + 1) fd_file[fd] = 0;
      }
    }
  }
  pthread_mutex_unlock(&mu);
}

int unlink(const char *path) {
  init();
  static int (*real_unlink)(const char *);
  if (!real_unlink) real_unlink = dlsym(RTLD_NEXT, "unlink");
  forget(path);
  return real_unlink(path);
}

int unlinkat(int dirfd, const char *path, int flags) {
  init();
  static int (*real_unlinkat)(int, const char *, int);
  if (!real_unlinkat) real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
  if (path && path[0] == '/') forget(path);
  return real_unlinkat(dirfd, path, flags);
}
