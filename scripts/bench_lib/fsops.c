// Workload driver for scripts/bench: the metadata, readdir and small-file workloads, written
// in C so that the figures measure the filesystem and not an interpreter. scripts/bench
// compiles it at run time (cc -O2) into its scratch directory.
//
//   fsops meta DIR NFILES NPROCS shared|split  per-phase times of create/stat/rename/unlink
//   fsops readdir DIR REPS                     list DIR REPS times (opendir/readdir/closedir)
//   fsops mkfiles DIR N                        create N empty files f0000000.. in DIR
//   fsops rmfiles DIR N                        unlink them again
//   fsops writefile PATH MIB                   write PATH in 1 MiB writes, then fsync
//   fsops build DIR NPROCS NFILES NCC CC       build-like small-file work plus NCC `CC -c`
//
// Output: one line per measured phase, "PHASE SECONDS OPS". Errors: a message naming the
// call and path on stderr and exit status 1, which scripts/bench shows as FAIL.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char* what, const char* path) {
  fprintf(stderr, "fsops: %s %s: %s\n", what, path, strerror(errno));
  exit(1);
}

static void name_of(char* buf, size_t len, const char* dir, const char* prefix, long i) {
  snprintf(buf, len, "%s/%s%07ld", dir, prefix, i);
}

static void create_empty(const char* path) {
  int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) die("create", path);
  if (close(fd) != 0) die("close", path);
}

// One metadata phase over this process's files: 0 create, 1 stat, 2 rename, 3 unlink.
static void meta_phase(int phase, const char* dir, const char* tag, long n) {
  char a[4096], b[4096], pa[64], pb[64];
  snprintf(pa, sizeof pa, "%sa", tag);
  snprintf(pb, sizeof pb, "%sb", tag);
  struct stat st;
  for (long i = 0; i < n; i++) {
    name_of(a, sizeof a, dir, pa, i);
    name_of(b, sizeof b, dir, pb, i);
    switch (phase) {
      case 0: create_empty(a); break;
      case 1: if (stat(a, &st) != 0) die("stat", a); break;
      case 2: if (rename(a, b) != 0) die("rename", a); break;
      case 3: if (unlink(b) != 0) die("unlink", b); break;
    }
  }
}

static void write_all(int fd, const char* buf, size_t len, const char* path) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write", path);
    }
    buf += w;
    len -= (size_t)w;
  }
}

static void read_byte(int fd, const char* what) {
  char c;
  ssize_t r;
  do r = read(fd, &c, 1); while (r < 0 && errno == EINTR);
  if (r != 1) die("sync pipe", what);
}

// The children run the four phases in lock step: the parent releases a phase to all of them
// and times it until the last one reports back, so a phase's time covers both processes.
static int cmd_meta(const char* dir, long n, int nprocs, int shared) {
  static const char* kPhase[] = {"create", "stat", "rename", "unlink"};
  int go[16][2], done[2];
  if (nprocs < 1 || nprocs > 16) { fprintf(stderr, "fsops: 1..16 processes\n"); return 2; }
  if (pipe(done) != 0) die("pipe", "");
  pid_t pids[16];
  for (int p = 0; p < nprocs; p++) {
    if (pipe(go[p]) != 0) die("pipe", "");
    char sub[4096], tag[16];
    snprintf(tag, sizeof tag, "p%d", p);
    snprintf(sub, sizeof sub, "%s/%s", dir, shared ? "" : tag);
    if (!shared && mkdir(sub, 0755) != 0) die("mkdir", sub);
    pids[p] = fork();
    if (pids[p] < 0) die("fork", "");
    if (pids[p] == 0) {
      for (int ph = 0; ph < 4; ph++) {
        read_byte(go[p][0], "go");
        meta_phase(ph, sub, tag, n);
        if (write(done[1], "x", 1) != 1) die("sync pipe", "done");
      }
      _exit(0);
    }
  }
  for (int ph = 0; ph < 4; ph++) {
    double t0 = now();
    for (int p = 0; p < nprocs; p++)
      if (write(go[p][1], "x", 1) != 1) die("sync pipe", "go");
    for (int p = 0; p < nprocs; p++) read_byte(done[0], "done (a worker failed)");
    printf("%s %.6f %ld\n", kPhase[ph], now() - t0, n * nprocs);
  }
  int failed = 0;
  for (int p = 0; p < nprocs; p++) {
    int status;
    if (waitpid(pids[p], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      failed = 1;
    if (!shared) {
      char sub[4096];
      snprintf(sub, sizeof sub, "%s/p%d", dir, p);
      if (rmdir(sub) != 0) die("rmdir", sub);
    }
  }
  return failed;
}

static int cmd_readdir(const char* dir, long reps) {
  long entries = 0;
  double t0 = now();
  for (long r = 0; r < reps; r++) {
    DIR* d = opendir(dir);
    if (d == NULL) die("opendir", dir);
    errno = 0;
    while (readdir(d) != NULL) entries++;
    if (errno != 0) die("readdir", dir);
    closedir(d);
  }
  printf("readdir %.6f %ld\n", now() - t0, entries);
  return 0;
}

static int cmd_files(const char* dir, long n, int remove) {
  char path[4096];
  double t0 = now();
  for (long i = 0; i < n; i++) {
    name_of(path, sizeof path, dir, "f", i);
    if (remove) {
      if (unlink(path) != 0) die("unlink", path);
    } else {
      create_empty(path);
    }
  }
  printf("%s %.6f %ld\n", remove ? "rmfiles" : "mkfiles", now() - t0, n);
  return 0;
}

static int cmd_writefile(const char* path, long mib) {
  static char buf[1 << 20];
  memset(buf, 0x5a, sizeof buf);
  double t0 = now();
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) die("open", path);
  for (long i = 0; i < mib; i++) write_all(fd, buf, sizeof buf, path);
  if (fsync(fd) != 0) die("fsync", path);
  if (close(fd) != 0) die("close", path);
  printf("writefile %.6f %ld\n", now() - t0, mib);
  return 0;
}

static void write_file(const char* path, const char* data, size_t len) {
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) die("open", path);
  write_all(fd, data, len, path);
  if (close(fd) != 0) die("close", path);
}

static size_t read_file(const char* path, char* buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open", path);
  size_t got = 0;
  for (;;) {
    ssize_t r = read(fd, buf + got, cap - got);
    if (r < 0) die("read", path);
    if (r == 0 || got + (size_t)r == cap) { got += (size_t)r; break; }
    got += (size_t)r;
  }
  close(fd);
  return got;
}

static void run_cc(const char* cc, const char* src, const char* obj, const char* tmpdir) {
  pid_t pid = fork();
  if (pid < 0) die("fork", cc);
  if (pid == 0) {
    setenv("TMPDIR", tmpdir, 1);  // the compiler's temporaries land on the measured FS too
    execlp(cc, cc, "-c", "-O1", "-I", tmpdir, src, "-o", obj, (char*)NULL);
    _exit(127);
  }
  int status;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "fsops: %s -c %s failed (status %d)\n", cc, src, status);
    exit(1);
  }
}

// What one build process does in DIR/bN: write NFILES small sources (1-8 KiB) and a header,
// then per source: read it and the shared header, stat the output, write a temporary object
// and rename it into place (the compiler/linker habit); list the objects, then compile NCC
// tiny C files for real, and delete half of the objects (make clean of a subset).
static void build_worker(const char* dir, int id, long nfiles, long ncc, const char* cc) {
  static char buf[16384];
  char sub[4096], path[4200], tmp[4200], obj[4200];
  snprintf(sub, sizeof sub, "%s/b%d", dir, id);
  if (mkdir(sub, 0755) != 0) die("mkdir", sub);
  srand(1234 + id);
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)('a' + i % 26);
  for (long i = 0; i < nfiles; i++) {
    snprintf(path, sizeof path, "%s/s%05ld.c", sub, i);
    write_file(path, buf, 1024 + (size_t)(rand() % 7168));
  }
  struct stat st;
  for (long i = 0; i < nfiles; i++) {
    snprintf(path, sizeof path, "%s/s%05ld.c", sub, i);
    size_t got = read_file(path, buf, sizeof buf);
    snprintf(path, sizeof path, "%s/common.h", dir);
    read_file(path, buf + got, sizeof buf - got);
    snprintf(obj, sizeof obj, "%s/s%05ld.o", sub, i);
    if (stat(obj, &st) == 0 || errno != ENOENT) die("stat (expected ENOENT)", obj);
    snprintf(tmp, sizeof tmp, "%s/s%05ld.o.tmp", sub, i);
    write_file(tmp, buf, got / 2 + 64);
    if (rename(tmp, obj) != 0) die("rename", tmp);
  }
  DIR* d = opendir(sub);
  if (d == NULL) die("opendir", sub);
  while (readdir(d) != NULL) {
  }
  closedir(d);
  for (long i = 0; i < ncc; i++) {
    snprintf(path, sizeof path, "%s/t%ld.c", sub, i);
    int len = snprintf(buf, sizeof buf,
                       "#include \"common_cc.h\"\nint f%ld(int x) { return COMMON(x) * %ld; }\n",
                       i, i + 1);
    write_file(path, buf, (size_t)len);
    snprintf(obj, sizeof obj, "%s/t%ld.o", sub, i);
    run_cc(cc, path, obj, dir);
  }
  for (long i = 0; i < nfiles; i += 2) {
    snprintf(obj, sizeof obj, "%s/s%05ld.o", sub, i);
    if (unlink(obj) != 0) die("unlink", obj);
  }
}

static int cmd_build(const char* dir, int nprocs, long nfiles, long ncc, const char* cc) {
  char path[4200];
  static const char kHeader[] = "#define COMMON(x) ((x) + 1)\n";
  snprintf(path, sizeof path, "%s/common.h", dir);
  write_file(path, "/* shared header */\n", 20);
  snprintf(path, sizeof path, "%s/common_cc.h", dir);
  write_file(path, kHeader, sizeof kHeader - 1);
  double t0 = now();
  pid_t pids[16];
  if (nprocs < 1 || nprocs > 16) { fprintf(stderr, "fsops: 1..16 processes\n"); return 2; }
  for (int p = 0; p < nprocs; p++) {
    pids[p] = fork();
    if (pids[p] < 0) die("fork", "");
    if (pids[p] == 0) {
      build_worker(dir, p, nfiles, ncc, cc);
      _exit(0);
    }
  }
  int failed = 0;
  for (int p = 0; p < nprocs; p++) {
    int status;
    if (waitpid(pids[p], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      failed = 1;
  }
  printf("build %.6f %ld\n", now() - t0, nfiles * nprocs);
  return failed;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 6 && strcmp(argv[1], "meta") == 0)
    return cmd_meta(argv[2], atol(argv[3]), atoi(argv[4]), strcmp(argv[5], "shared") == 0);
  if (argc >= 4 && strcmp(argv[1], "readdir") == 0) return cmd_readdir(argv[2], atol(argv[3]));
  if (argc >= 4 && strcmp(argv[1], "mkfiles") == 0) return cmd_files(argv[2], atol(argv[3]), 0);
  if (argc >= 4 && strcmp(argv[1], "rmfiles") == 0) return cmd_files(argv[2], atol(argv[3]), 1);
  if (argc >= 4 && strcmp(argv[1], "writefile") == 0)
    return cmd_writefile(argv[2], atol(argv[3]));
  if (argc >= 7 && strcmp(argv[1], "build") == 0)
    return cmd_build(argv[2], atoi(argv[3]), atol(argv[4]), atol(argv[5]), argv[6]);
  fprintf(stderr, "usage: see the comment at the top of scripts/bench_lib/fsops.c\n");
  return 2;
}
