// The namespace checker: walks the tree from the root and verifies it against itself (link
// counts, ".." pointers, no cycles or directory aliases, entry indexes, every inode reachable
// or kept by a lookup or an open file). For tests and lockfs-stress, run while quiescent.
#pragma once

#include <string>

#include "core/super.h"

namespace lockfs::core {

struct FsckReport {
  uint64_t dirs = 0, files = 0, unreachable_kept = 0;
  std::vector<std::string> errors;
  bool ok() const { return errors.empty(); }
  std::string summary() const;
};

// Locking: takes each directory's i_rwsem shared while reading it; callers make sure no
// operation runs concurrently (the counts of a moving tree would not add up).
FsckReport check_namespace(SuperBlock& sb);

}  // namespace lockfs::core
