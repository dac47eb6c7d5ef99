// Mount, unmount (kill_sb), statfs and introspection.
#include "core/memfs.h"
#include "core/vfs_internal.h"

namespace lockfs::core {

using contract::LockId;
using contract::Role;

// file_system_type->mount: the superblock and its root. -EINVAL for an unknown profile.
Result<std::unique_ptr<Vfs>> Vfs::mount(const MountOptions& opts) {
  Result<contract::Profile> p = contract::profile_by_name(opts.profile);
  if (!p.ok()) return err(p.error());
  auto sb = std::make_unique<SuperBlock>(opts, *p);
  return std::unique_ptr<Vfs>(new Vfs(std::move(sb)));
}

Vfs::Vfs(std::unique_ptr<SuperBlock> sb) : sb_(std::move(sb)) {}

// kill_sb — row file_system_type.kill_sb: "takes a write-locked superblock" (s_umount
// exclusive), does all shutdown work, unlocks.
Vfs::~Vfs() {
  locking::OpScope op("kill_sb");
  sb_->s_umount.down_write();
  contract_check(sb_->s_contract, Op::kKillSb,
                 {{Role::kSuperblock, LockId::kSUmount, &sb_->s_umount.map()}});
  sb_->kill_sb();
  sb_->s_umount.up_write();
  sb_.reset();
}

// vfs_statfs — row super_operations.statfs: s_umount "maybe(read)" (not for statfs(2)).
Result<struct statvfs> Vfs::statfs(Ino ino) {
  locking::OpScope op("statfs");
  InodeRef inode = pin(*sb_, ino);
  if (!inode) return err(-ENOENT);
  return memfs::statfs(*sb_);
}

const Contract& Vfs::contract() const { return sb_->s_contract; }
uint64_t Vfs::live_inodes() const { return sb_->nr_inodes(); }
SuperBlock& Vfs::sb() { return *sb_; }

}  // namespace lockfs::core
