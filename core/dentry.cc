// Dentry: names of inodes in their parent directory.
#include "core/dentry.h"

#include "core/lock_classes.h"

namespace lockfs::core {

Dentry::Dentry(std::string_view name, Inode* parent, Inode* inode, uint64_t seq)
    : d_lock(lock_class::kDLock), d_name(name), d_parent(parent), d_inode(inode), d_seq(seq) {}

std::string Dentry::name() const {
  locking::SpinGuard g(d_lock);
  return d_name;
}

}  // namespace lockfs::core
