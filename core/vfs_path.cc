// path_lookup: a path walk from the root for in-process drivers and tests, following symlinks
// (ELOOP after 40), with ".." taken under rename_lock's read side.
#include <deque>
#include <string>

#include "core/memfs.h"
#include "core/namei.h"
#include "core/permission.h"
#include "core/vfs_internal.h"

namespace lockfs::core {

using locking::Mode;

namespace {

inline constexpr int kMaxSymlinks = 40;  // MAXSYMLINKS

void push_components(std::deque<std::string>& q, std::string_view path) {
  std::deque<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = i;
    while (j < path.size() && path[j] != '/') ++j;
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j;
  }
  q.insert(q.begin(), parts.begin(), parts.end());
}

}  // namespace

// Row inode_operations.lookup for each component (the profile's mode); no lookup counts are
// taken: the result is a number only. Errors: -EINVAL (relative path), -ENOENT, -ENOTDIR,
// -EACCES, -ELOOP, -ENAMETOOLONG.
// Run-time lock mode per the profile (see Vfs::lookup); memfs::lookup asserts it.
Result<Ino> Vfs::path_lookup(std::string_view path, bool follow_last)
    LOCKFS_NO_THREAD_SAFETY_ANALYSIS {
  locking::OpScope op("path_lookup");
  SuperBlock& sb = *sb_;
  if (path.empty()) return err(-ENOENT);
  if (path.front() != '/') return err(-EINVAL);
  if (path.size() >= kPathMax) return err(-ENAMETOOLONG);
  const bool must_be_dir = path.back() == '/';
  std::deque<std::string> q;
  push_components(q, path);
  InodeRef cur = pin(sb, kRootIno);
  int links = 0;
  const Mode m = dir_mode(sb.s_contract, Op::kLookup);
  while (!q.empty()) {
    const std::string comp = std::move(q.front());
    q.pop_front();
    const bool last = q.empty();
    if (!cur->is_dir()) return err(-ENOTDIR);
    if (int rc = inode_permission(*cur.get(), kMayExec)) return err(rc);
    if (comp == ".") continue;
    if (comp == "..") {
      if (cur->i_ino == kRootIno) continue;
      InodeRef up = follow_dotdot(sb, cur.get());
      if (!up) return err(-ENOENT);
      cur = std::move(up);
      continue;
    }
    if (int rc = check_name(comp)) return err(rc);
    InodeRef child;
    {
      RwsemHold locked(cur->i_rwsem, m);
      if (Dentry* d = memfs::lookup(cur.get(), comp)) {
        sb.ihold(d->d_inode);
        child = InodeRef(&sb, d->d_inode);
      }
    }
    if (!child) return err(-ENOENT);
    if (child->is_lnk() && (!last || follow_last || must_be_dir)) {
      if (++links > kMaxSymlinks) return err(-ELOOP);
      const std::string& target = child->i_link;
      if (!target.empty() && target.front() == '/') cur = pin(sb, kRootIno);
      push_components(q, target);
      continue;
    }
    cur = std::move(child);
  }
  if (must_be_dir && !cur->is_dir()) return err(-ENOTDIR);
  return cur->i_ino;
}

}  // namespace lockfs::core
