// Directory callers: opendir, readdir (iterate_dir), releasedir, fsyncdir.
#include <optional>
#include <vector>

#include "core/file.h"
#include "core/memfs.h"
#include "core/permission.h"
#include "core/vfs_internal.h"
#include "locking/sync_point.h"

namespace lockfs::core {

using contract::LockId;
using contract::Role;
using locking::Mode;
using locking::OpScope;

// opendir — row file_operations.open: no lock. -ENOTDIR, -EACCES.
Result<File*> Vfs::opendir(Ino ino, int flags) {
  OpScope op("opendir");
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  if (!inode->is_dir()) return err(-ENOTDIR);
  if (int rc = inode_permission(*inode.get(), kMayRead)) return err(rc);
  auto f = std::make_unique<File>(inode.get(), flags & ~O_ACCMODE);
  LOCKFS_TRY(memfs::open(inode.get(), f.get()));
  sb_->file_opened(f.get());  // may throw: then nothing is registered and both are freed
  inode.release();
  return f.release();
}

// vfs readdir (iterate_dir) — row file_operations.iterate_shared: i_rwsem shared and the
// file's f_pos_lock exclusive (3.x ->readdir: i_mutex, so exclusive). iterate_dir's wait for
// i_rwsem is killable: -EINTR with nothing held. plus: every entry the caller accepts, other
// than "." and "..", counts as one lookup.
Result<void> Vfs::readdir(File* dir, uint64_t off, bool plus, const DirEmit& emit)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  OpScope op("readdir");
  SuperBlock& sb = *sb_;
  Inode* inode = dir->f_inode;
  if (!inode->is_dir()) return err(-ENOTDIR);
  const Contract& c = sb.s_contract;
  // fdget_pos takes f_pos_lock before iterate_dir takes the directory lock.
  std::optional<locking::MutexGuard> pos_locked;
  if (c.mode(Op::kIterate, Role::kFile, LockId::kFPosLock)) pos_locked.emplace(dir->f_pos_lock);
  RwsemHold locked;
  if (int rc = locked.lock_killable(inode->i_rwsem, dir_mode(c, Op::kIterate))) {
    op.set_result(rc);
    return err(rc);
  }
  LOCKFS_SYNC_POINT("readdir:locked");
  // The entries the caller took, counted as lookups in one s_inode_lock section at the end:
  // they cannot be unlinked (nor evicted) while we hold the directory's i_rwsem.
  std::vector<Inode*> looked_up;
  Result<void> r = memfs::iterate_shared(
      dir, off, [&](std::string_view name, Inode* child, Ino ino, uint64_t next) {
        struct stat st {};
        const bool counted = plus && name != "." && name != "..";
        if (counted) {
          st = child->getattr();
        } else {
          // Plain readdir (and "." / "..") needs only d_ino and d_type (dcache_readdir).
          st.st_ino = ino;
          st.st_mode = child != nullptr ? child->i_type : S_IFDIR;
        }
        if (!emit(name, st, next)) return false;
        if (counted) looked_up.push_back(child);
        return true;
      });
  // An error reply hands the client no entry, so then nothing is counted.
  if (r.ok() && !looked_up.empty()) sb.nlookup_get_each(looked_up);
  locked.unlock();
  pos_locked.reset();
  memfs::touch_atime(inode);  // iterate_dir's file_accessed
  return r;
}

Result<void> Vfs::releasedir(File* dir) { return release(dir); }

// fsyncdir — row file_operations.fsync: no lock; nothing to write back in memory.
Result<void> Vfs::fsyncdir(File* dir, bool datasync) { return memfs::fsync(dir, datasync); }

}  // namespace lockfs::core
