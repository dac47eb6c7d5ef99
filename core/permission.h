// Permission checks as the VFS makes them (generic_permission, may_create, may_delete,
// inode_init_owner, setuid/setgid clearing), for locking::current()'s uid/gid/groups.
// Root (uid 0) has the capabilities lockfs models: DAC override, CHOWN, FOWNER, FSETID, MKNOD.
#pragma once

#include <sys/types.h>

#include <string_view>

#include "core/inode.h"

namespace lockfs::core {

inline constexpr int kMayExec = 1;
inline constexpr int kMayWrite = 2;
inline constexpr int kMayRead = 4;

bool capable();                      // the current task is root
bool in_group_p(gid_t gid);          // gid is the task's gid or a supplementary group
bool owner_or_capable(const InodeAttr& a);

// Mode bits only: 0 or -EACCES (root: read/write always, exec if any x bit or a directory).
int generic_permission(const InodeAttr& a, int mask);
// inode_permission: -EPERM for writes to an immutable inode, then generic_permission.
int inode_permission(const Inode& inode, int mask);

// A name for a new or looked-up entry: -ENOENT (empty), -ENAMETOOLONG (> 255 bytes),
// -EINVAL ('/' or NUL inside).
int check_name(std::string_view name);
bool is_dot_or_dotdot(std::string_view name);

// may_create: search and write permission on the (locked, live) directory.
int may_create(const Inode& dir);
// may_delete: victim removable from dir: permissions, sticky bit (-EPERM), immutable or
// append-only victim (-EPERM), type (-ENOTDIR / -EISDIR per isdir).
int may_delete(const Inode& dir, const Inode& victim, bool isdir);

// inode_init_owner: owner is the task; group is the directory's when it is setgid (a new
// directory keeps S_ISGID), else the task's gid; drops S_ISGID from a new group-executable
// file whose group the creator is not in. Reads the directory's mode and gid only, so
// callers pass dir->perm_attr() (no i_lock), as the kernel's reads i_mode and i_gid.
void inode_init_owner(InodeAttr& a, const InodeAttr& dir, mode_t mode);

// Mode with S_ISUID (and S_ISGID when group-executable) cleared, as a write by a task without
// CAP_FSETID does (file_remove_privs). Returns `mode` unchanged when nothing applies.
mode_t mode_after_write(mode_t mode);

}  // namespace lockfs::core
