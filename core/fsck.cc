// Namespace consistency check.
#include "core/fsck.h"

#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace lockfs::core {

std::string FsckReport::summary() const {
  std::string s = fmt::format("dirs={} files={} unreachable_kept={} errors={}", dirs, files,
                              unreachable_kept, errors.size());
  for (size_t i = 0; i < errors.size() && i < 10; ++i) s += "\n  " + errors[i];
  return s;
}

// The walk reads each directory under its i_rwsem (ReadGuard below); the analysis cannot follow
// the lock through the reference into the popped inode, the runtime check inside memfs can.
FsckReport check_namespace(SuperBlock& sb) LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  FsckReport rep;
  std::unordered_map<Ino, uint64_t> links;  // names seen per inode
  std::unordered_set<Ino> seen_dirs;
  std::vector<Inode*> stack{sb.s_root};
  seen_dirs.insert(kRootIno);
  while (!stack.empty()) {
    Inode* dir = stack.back();
    stack.pop_back();
    ++rep.dirs;
    uint64_t subdirs = 0;
    locking::ReadGuard g(dir->i_rwsem);
    const DirEntries& de = *dir->i_dir;
    if (de.dead) rep.errors.push_back(fmt::format("dir {} reachable but dead", dir->i_ino));
    if (de.by_name.size() != de.by_seq.size() ||
        de.by_name.size() != dir->i_nentries.load(std::memory_order_relaxed)) {
      rep.errors.push_back(fmt::format("dir {} entry indexes disagree", dir->i_ino));
    }
    for (const auto& [name, d] : de.by_name) {
      Inode* child = d->d_inode;
      if (d->d_parent.load(std::memory_order_relaxed) != dir) {
        rep.errors.push_back(fmt::format("dentry {} in {} has another d_parent", name, dir->i_ino));
      }
      // The key is a view of the dentry's own name: a dentry renamed while in the map, or
      // filed under another's name, would leave it pointing elsewhere.
      if (name.data() != d->name_under_parent().data() || d->name() != name) {
        rep.errors.push_back(fmt::format("dentry {} in {} has name {}", name, dir->i_ino, d->name()));
      }
      if (de.by_seq.find(d->d_seq) != d.get()) {
        rep.errors.push_back(fmt::format("dentry {} in {} missing from by_seq", name, dir->i_ino));
      }
      if (sb.find_unlocked_for_check(child->i_ino) != child) {
        rep.errors.push_back(fmt::format("entry {} in {} names an evicted inode", name, dir->i_ino));
        continue;
      }
      ++links[child->i_ino];
      if (child->is_dir()) {
        ++subdirs;
        if (!seen_dirs.insert(child->i_ino).second) {
          rep.errors.push_back(fmt::format("directory {} reached twice (alias or cycle)",
                                           child->i_ino));
          continue;
        }
        if (child->i_parent.load(std::memory_order_relaxed) != dir->i_ino) {
          rep.errors.push_back(fmt::format("directory {}: '..' is {}, parent is {}", child->i_ino,
                                           child->i_parent.load(), dir->i_ino));
        }
        stack.push_back(child);
      }
    }
    if (dir->nlink() != 2 + subdirs) {
      rep.errors.push_back(fmt::format("directory {}: nlink {} != 2 + {} subdirs", dir->i_ino,
                                       dir->nlink(), subdirs));
    }
  }
  for (Ino ino : sb.all_inos()) {
    Inode* inode = sb.find_unlocked_for_check(ino);
    if (inode == nullptr) continue;
    const bool reachable = ino == kRootIno || links.count(ino) > 0;
    if (!inode->is_dir()) {
      ++rep.files;
      const uint64_t n = reachable ? links[ino] : 0;
      if (inode->nlink() != n) {
        rep.errors.push_back(fmt::format("inode {}: nlink {} != {} names", ino, inode->nlink(), n));
      }
    }
    if (!reachable) {
      const auto [count, nlookup] = sb.counts(ino);
      if (inode->is_dir() && inode->nlink() != 0) {
        rep.errors.push_back(fmt::format("unreachable directory {} has nlink {}", ino,
                                         inode->nlink()));
      }
      if (count == 0 && nlookup == 0) {
        rep.errors.push_back(fmt::format("inode {} unreachable and unreferenced (leak)", ino));
      } else {
        ++rep.unreachable_kept;
      }
    }
  }
  return rep;
}

}  // namespace lockfs::core
