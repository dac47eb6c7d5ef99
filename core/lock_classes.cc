// Registration of core/'s lock classes (static objects: registered before main()).
#include "core/lock_classes.h"

#include <sys/stat.h>

namespace lockfs::core::lock_class {

using locking::LockClass;
using locking::LockKind;

const LockClass kIRwsemDir("i_rwsem(dir)", LockKind::kRwSem);
const LockClass kIRwsemReg("i_rwsem(reg)", LockKind::kRwSem);
const LockClass kIRwsemLnk("i_rwsem(lnk)", LockKind::kRwSem);
const LockClass kIRwsemSpecial("i_rwsem(special)", LockKind::kRwSem);
const LockClass kILock("i_lock", LockKind::kSpinLock);
const LockClass kFlcLock("flc_lock", LockKind::kSpinLock);
const LockClass kDLock("d_lock", LockKind::kSpinLock);
const LockClass kRenameLock("rename_lock", LockKind::kSeqLock);
const LockClass kSUmount("s_umount", LockKind::kRwSem);
const LockClass kSVfsRenameSem("s_vfs_rename_sem", LockKind::kRwSem);
const LockClass kInodeHashLock("inode_hash_lock", LockKind::kSpinLock);
const LockClass kFPosLock("f_pos_lock", LockKind::kMutex);
const LockClass kBlockedLockLock("blocked_lock_lock", LockKind::kSpinLock);

const LockClass& i_rwsem_class(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR: return kIRwsemDir;
    case S_IFREG: return kIRwsemReg;
    case S_IFLNK: return kIRwsemLnk;
    default: return kIRwsemSpecial;
  }
}

}  // namespace lockfs::core::lock_class
