// File: open file descriptions.
#include "core/file.h"

#include "core/inode.h"
#include "core/lock_classes.h"

namespace lockfs::core {

File::File(Inode* inode, int flags)
    : f_inode(inode), f_flags(flags), f_pos_lock(lock_class::kFPosLock, inode->i_ino) {}

Ino file_ino(const File* f) { return f->f_inode->i_ino; }

}  // namespace lockfs::core
