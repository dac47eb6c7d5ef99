// The public API of core/: a mounted lockfs instance driven by inode numbers and open-file
// handles, the way an NFS export or FUSE's low-level API drives a filesystem. Every call runs
// as locking::current() (uid/gid/groups/pid, fatal-signal flag), takes the locks its contract
// row prescribes, and returns a negative errno on failure. core/ knows nothing of FUSE.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <fcntl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "locking/result.h"

namespace lockfs::core {

using Ino = uint64_t;
inline constexpr Ino kRootIno = 1;
// Inode numbers are never reused within a mount (a 64-bit counter), so every inode has this
// one generation. Anything that names an inode to a client (EntryOut, readdirplus entries)
// must send it: FUSE treats a known nodeid with another generation as a reused number and
// marks the live inode bad (EIO on its open files).
inline constexpr uint64_t kInodeGeneration = 1;

class Contract;
class File;
class SuperBlock;

struct MountOptions {
  uint64_t size_bytes = 0;       // capacity of file data; 0: half of physical RAM (tmpfs)
  uint64_t nr_inodes = 0;        // max inodes; 0: size_bytes / 4096 (at least 1024)... see vfs.cc
  std::string profile = "current";  // locking profile: "current", "5.x" or "3.x"
  mode_t root_mode = 01777;      // tmpfs's default for the root directory
  uid_t root_uid = 0;
  gid_t root_gid = 0;
  // Models ->lookup's own work (reading a directory block on a disk filesystem): memfs's
  // lookup sleeps this long with the directory locked as the profile says. lockfs-stress uses
  // it to show what shared lookups buy; 0 (the default) for real use.
  uint32_t lookup_latency_us = 0;
};

// What a successful lookup/create returns. Each one counts as one lookup of `ino`
// (see forget()).
struct EntryOut {
  Ino ino;
  uint64_t generation;
  struct stat attr;
};

// setattr fields to apply (bits of SetAttrIn::valid).
enum SetAttrValid : unsigned {
  kSetMode = 1u << 0,
  kSetUid = 1u << 1,
  kSetGid = 1u << 2,
  kSetSize = 1u << 3,
  kSetAtime = 1u << 4,
  kSetMtime = 1u << 5,
  kSetAtimeNow = 1u << 6,
  kSetMtimeNow = 1u << 7,
  kSetCtime = 1u << 8,
  kKillSuidGid = 1u << 9,  // clear setuid/setgid as a write by this caller would
};
struct SetAttrIn {
  unsigned valid = 0;
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  uint64_t size = 0;
  struct timespec atime {}, mtime {}, ctime {};
};

// Called for each directory entry by readdir, with the offset of the *next* entry; returns
// false when the caller's buffer is full (that entry is then not consumed: for readdirplus
// its lookup count is not taken).
using DirEmit =
    std::function<bool(std::string_view name, const struct stat& attr, uint64_t next_off)>;

// The chattr flags lockfs supports (FS_IOC_GETFLAGS / FS_IOC_SETFLAGS values).
inline constexpr unsigned kFlagImmutable = 0x00000010;  // FS_IMMUTABLE_FL
inline constexpr unsigned kFlagAppend = 0x00000020;     // FS_APPEND_FL
inline constexpr unsigned kFlagNoatime = 0x00000080;    // FS_NOATIME_FL

// Thread safety: every method may be called concurrently from any number of threads; each
// takes the locks it needs. A File* is used by one request at a time per the caller's
// protocol only for release()/releasedir() (no other call on it may be in flight).
class Vfs {
 public:
  // Creates the superblock and its root directory (file_system_type->mount).
  static Result<std::unique_ptr<Vfs>> mount(const MountOptions& opts);
  ~Vfs();  // kill_sb: s_umount write, evicts everything
  Vfs(const Vfs&) = delete;
  Vfs& operator=(const Vfs&) = delete;

  // --- namespace (inode_operations)
  Result<EntryOut> lookup(Ino parent, std::string_view name);
  // Drops `nlookup` lookups of `ino`. An inode with no links, no lookups and no open files
  // is evicted (evict_inode) and its data freed.
  void forget(Ino ino, uint64_t nlookup);
  Result<struct stat> getattr(Ino ino);
  // `f` (may be null) is the open file the change came through (ftruncate, futimens).
  Result<struct stat> setattr(Ino ino, const SetAttrIn& in, File* f);
  Result<std::string> readlink(Ino ino);
  Result<EntryOut> mknod(Ino parent, std::string_view name, mode_t mode, dev_t rdev);
  Result<EntryOut> mkdir(Ino parent, std::string_view name, mode_t mode);
  Result<EntryOut> symlink(Ino parent, std::string_view name, std::string_view target);
  Result<EntryOut> link(Ino ino, Ino newparent, std::string_view newname);
  Result<void> unlink(Ino parent, std::string_view name);
  Result<void> rmdir(Ino parent, std::string_view name);
  // flags: 0, RENAME_NOREPLACE, RENAME_EXCHANGE (RENAME_WHITEOUT: -EINVAL).
  Result<void> rename(Ino oldparent, std::string_view oldname, Ino newparent,
                      std::string_view newname, unsigned flags);
  Result<void> access(Ino ino, int mask);
  // Resolves an absolute path from the root, following symlinks (ELOOP after 40), as
  // path walk does. For in-process drivers and tests; FUSE never needs it.
  Result<Ino> path_lookup(std::string_view path, bool follow_last = true);

  // --- files (file_operations)
  Result<File*> open(Ino ino, int flags);
  struct CreateOut {
    EntryOut entry;
    File* file;
  };
  Result<CreateOut> create(Ino parent, std::string_view name, mode_t mode, int flags);
  // O_TMPFILE: an unnamed regular file in `parent` (nlink 0 until linked).
  Result<CreateOut> tmpfile(Ino parent, mode_t mode, int flags);
  Result<size_t> read(File* f, uint64_t off, std::span<char> buf);
  Result<size_t> write(File* f, uint64_t off, std::span<const char> data);
  // A write the client's page cache sends back (FUSE_WRITE_CACHE): traced as op
  // "writepage"; takes invalidate_lock shared instead of i_rwsem (memfs::write_cached).
  Result<size_t> write_cached(File* f, uint64_t off, std::span<const char> data);
  // Drops the POSIX locks `lock_owner` holds on the file (close(2) of one descriptor).
  Result<void> flush(File* f, uint64_t lock_owner);
  // Last close of the open file; frees `f` (and drops its flock locks).
  Result<void> release(File* f);
  Result<void> fsync(File* f, bool datasync);
  Result<int64_t> lseek(File* f, int64_t off, int whence);  // SEEK_DATA / SEEK_HOLE
  Result<void> fallocate(File* f, int mode, int64_t off, int64_t len);
  Result<size_t> copy_file_range(File* in, int64_t off_in, File* out, int64_t off_out,
                                 size_t len, unsigned flags);

  // --- directories
  Result<File*> opendir(Ino ino, int flags);
  // iterate_shared. plus: each emitted entry other than "." and ".." counts as a lookup.
  Result<void> readdir(File* dir, uint64_t off, bool plus, const DirEmit& emit);
  Result<void> releasedir(File* dir);
  Result<void> fsyncdir(File* dir, bool datasync);

  // --- xattrs (xattr_handler); value semantics of getxattr(2) are the caller's (ERANGE).
  Result<void> setxattr(Ino ino, std::string_view name, std::span<const char> value, int flags);
  Result<std::string> getxattr(Ino ino, std::string_view name);
  Result<std::string> listxattr(Ino ino);  // names, each NUL-terminated
  Result<void> removexattr(Ino ino, std::string_view name);

  // --- fileattr (chattr flags)
  Result<unsigned> fileattr_get(Ino ino);
  Result<void> fileattr_set(Ino ino, unsigned flags);

  // --- locks (fcntl POSIX record locks, flock). `owner` identifies the lock owner.
  Result<struct flock> getlk(File* f, uint64_t owner, const struct flock& lk);
  // sleep: F_SETLKW (a killable wait: -EINTR when the task is killed).
  Result<void> setlk(File* f, uint64_t owner, const struct flock& lk, bool sleep);
  // op: LOCK_SH / LOCK_EX / LOCK_UN, | LOCK_NB.
  Result<void> flock(File* f, uint64_t owner, int op);

  // --- super_operations
  Result<struct statvfs> statfs(Ino ino);

  // --- introspection
  const Contract& contract() const;
  uint64_t live_inodes() const;  // inodes not yet evicted, root included
  SuperBlock& sb();

 private:
  explicit Vfs(std::unique_ptr<SuperBlock> sb);
  std::unique_ptr<SuperBlock> sb_;
};

// File state visible to callers (ino of an open file).
Ino file_ino(const File* f);

}  // namespace lockfs::core
