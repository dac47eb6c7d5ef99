// File: one open file description (struct file): the inode, the open flags and f_pos_lock.
#pragma once

#include <fcntl.h>

#include "core/vfs.h"
#include "locking/mutex.h"

namespace lockfs::core {

class Inode;

// Thread safety: f_inode and f_flags are constant; f_pos_lock serialises readdir on the file
// (iterate_shared "with the file f_pos_lock held exclusively"). The file holds a pin on its
// inode from open to release.
class File {
 public:
  File(Inode* inode, int flags);
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  Inode* const f_inode;
  const int f_flags;
  locking::Mutex f_pos_lock;

  bool readable() const { return (f_flags & O_ACCMODE) != O_WRONLY; }
  bool writable() const { return (f_flags & O_ACCMODE) != O_RDONLY; }
  bool append() const { return f_flags & O_APPEND; }
};

}  // namespace lockfs::core
