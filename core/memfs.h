// memfs: the in-memory filesystem behind the VFS core (ramfs/shmem in spirit). Its methods are
// the inode_operations, file_operations, xattr handlers and super_operations core/ calls; each
// asserts on entry the locks its contract row promises (ContractScope + assert_held), so a
// caller that forgets one is caught. Permission checks are the callers' (the VFS's) job.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/contract_scope.h"
#include "core/file.h"
#include "core/inode.h"
#include "core/super.h"

namespace lockfs::core::memfs {

// --- inode_operations

// ->lookup: the entry or nullptr. Locking: dir's i_rwsem as the profile's row says (shared,
// or exclusive under 3.x).
Dentry* lookup(Inode* dir, std::string_view name) LOCKFS_REQUIRES_SHARED(dir->i_rwsem);

// ->create / ->mknod / ->symlink / ->mkdir (op says which): links the new, pinned `inode` as
// `name`. Locking: dir's i_rwsem exclusive. Errors: -ENOENT (dir removed), -EEXIST.
Result<void> create(Op op, Inode* dir, std::string_view name, Inode* inode)
    LOCKFS_REQUIRES(dir->i_rwsem);

// ->link: a new name for the non-directory `inode`. Locking: dir and inode exclusive.
Result<void> link(Inode* inode, Inode* dir, std::string_view name)
    LOCKFS_REQUIRES(dir->i_rwsem, inode->i_rwsem);

// ->unlink: removes the entry of a non-directory. Locking: dir and victim exclusive.
Result<void> unlink(Inode* dir, Dentry* victim) LOCKFS_NO_THREAD_SAFETY_ANALYSIS;

// ->rmdir: removes an empty directory. Locking: dir and victim exclusive. -ENOTEMPTY.
Result<void> rmdir(Inode* dir, Dentry* victim) LOCKFS_NO_THREAD_SAFETY_ANALYSIS;

struct RenameReq {
  Inode* old_dir;
  Dentry* old_dentry;
  Inode* new_dir;
  std::string_view new_name;
  Dentry* new_dentry;  // nullptr: no target
  unsigned flags;      // 0, RENAME_NOREPLACE, RENAME_EXCHANGE
};
// ->rename. Locking: both parents exclusive; cross-directory: s_vfs_rename_sem; the victim, all
// non-directories and every subdirectory changing parent exclusive. -ENOTEMPTY when a
// directory target is not empty.
Result<void> rename(const RenameReq& r) LOCKFS_NO_THREAD_SAFETY_ANALYSIS;

// ->readlink / ->get_link. Locking: none. -EINVAL for a non-symlink.
Result<std::string> readlink(Inode* inode);

// ->setattr: applies `in` (already permitted by setattr_prepare). A size change truncates the
// page cache. Locking: i_rwsem exclusive; for a size change also invalidate_lock exclusive.
Result<void> setattr(Inode* inode, const SetAttrIn& in) LOCKFS_REQUIRES(inode->i_rwsem);

// ->getattr. Locking: none.
struct stat getattr(Inode* inode);

// ->tmpfile: `inode` (nlink 0) becomes an open unnamed file of dir. Locking: none required.
Result<void> tmpfile(Inode* dir, Inode* inode);

// ->fileattr_get (no lock needed) / ->fileattr_set (i_rwsem exclusive).
unsigned fileattr_get(Inode* inode);
Result<void> fileattr_set(Inode* inode, unsigned flags) LOCKFS_REQUIRES(inode->i_rwsem);

// --- xattr handlers (name is the full name, "user.foo"; namespace rules are the caller's)
Result<std::string> xattr_get(Inode* inode, std::string_view name);
// value nullopt: remove. flags: XATTR_CREATE / XATTR_REPLACE. Locking: i_rwsem exclusive.
Result<void> xattr_set(Inode* inode, std::string_view name,
                       std::optional<std::span<const char>> value, int flags)
    LOCKFS_REQUIRES(inode->i_rwsem);
// ->listxattr: NUL-terminated names the caller may see (trusted.* only for root).
std::string listxattr(Inode* inode);

// --- file_operations

// file_accessed / touch_atime: relatime (atime moves when it is not after mtime and ctime, or
// is a day old; never under chattr +A). Takes i_lock only to move it.
void touch_atime(Inode* inode);

Result<void> open(Inode* inode, File* f);
Result<void> flush(File* f);
Result<void> release(File* f);
Result<void> fsync(File* f, bool datasync);
// ->read_iter: no lock held; the page cache takes invalidate_lock and folio locks.
Result<size_t> read_iter(File* f, uint64_t pos, std::span<char> buf);
// ->write_iter: takes i_rwsem exclusive itself (generic_file_write_iter's inode_lock);
// O_APPEND writes at i_size. -EFBIG past kMaxFileSize, -ENOSPC, -EINTR.
Result<size_t> write_iter(File* f, uint64_t pos, std::span<const char> data);
// A write the FUSE client's page cache sends back (FUSE_WRITE_CACHE: a shared mapping's
// dirty pages, or the writeback cache). Inside i_size it is stored as ->page_mkwrite stores:
// invalidate_lock shared and folio locks, no i_rwsem, so writebacks of different pages run
// in parallel; mtime and ctime move, suid/sgid stay. Past i_size (writeback cache only) it
// takes i_rwsem exclusive and grows the file. Errors as write_iter.
Result<size_t> write_cached(File* f, uint64_t pos, std::span<const char> data);
// ->llseek: SEEK_SET/SEEK_END/SEEK_DATA/SEEK_HOLE (takes i_rwsem itself, as shmem does).
Result<int64_t> llseek(File* f, int64_t off, int whence);
// ->fallocate: takes i_rwsem exclusive, and invalidate_lock exclusive to punch or zero.
Result<void> fallocate(File* f, int mode, uint64_t off, uint64_t len);
// ->copy_file_range: reads `in` unlocked, then writes into `out` under out's i_rwsem and
// invalidate_lock exclusive (the text: block writes and ->page_mkwrite meanwhile).
Result<size_t> copy_file_range(File* in, uint64_t off_in, File* out, uint64_t off_out,
                               size_t len);

// ->iterate_shared: emits entries from offset `off` on ("." and ".." first); emit returns
// false to stop. Locking: dir's i_rwsem shared (3.x: exclusive) and the file's f_pos_lock
// (when the row says so).
// inode is null for ".." (only its number is known without pinning the parent).
using FillDir =
    std::function<bool(std::string_view name, Inode* inode, Ino ino, uint64_t next_off)>;
Result<void> iterate_shared(File* f, uint64_t off, const FillDir& fill)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS;

// --- super_operations
// ->drop_inode (generic_drop_inode): whether the last reference going away should evict the
// inode: no links left. Locking: i_lock held ("!!!inode->i_lock!!!"); may not block.
bool drop_inode(Inode* inode) LOCKFS_REQUIRES(inode->i_lock);
void evict_inode(Inode* inode);
struct statvfs statfs(SuperBlock& sb);

}  // namespace lockfs::core::memfs
