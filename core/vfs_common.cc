// Shared pieces of the vfs_* callers.
#include "core/memfs.h"
#include "core/vfs_internal.h"

namespace lockfs::core {

using contract::LockId;
using contract::Role;
using locking::Mode;

EntryOut make_entry(SuperBlock& sb, Inode* inode) {
  sb.nlookup_get(inode, 1);
  return counted_entry(inode);
}

EntryOut counted_entry(Inode* inode) {
  EntryOut e{};
  e.ino = inode->i_ino;
  e.generation = inode->i_generation;
  e.attr = memfs::getattr(inode);
  return e;
}

Mode dir_mode(const Contract& c, Op op) {
  if (auto m = c.mode(op, Role::kDir, LockId::kIRwsem)) return *m;
  if (auto m = c.mode(op, Role::kInode, LockId::kIRwsem)) return *m;
  return Mode::kShared;
}

void rwsem_lock(locking::RwSemaphore& s, Mode m, locking::Subclass sub) {
  if (m == Mode::kShared) {
    s.down_read(sub);
  } else {
    s.down_write(sub);
  }
}

int rwsem_lock_killable(locking::RwSemaphore& s, Mode m, locking::Subclass sub) {
  return m == Mode::kShared ? s.down_read_killable(sub) : s.down_write_killable(sub);
}

void rwsem_unlock(locking::RwSemaphore& s, Mode m) {
  if (m == Mode::kShared) {
    s.up_read();
  } else {
    s.up_write();
  }
}

}  // namespace lockfs::core
