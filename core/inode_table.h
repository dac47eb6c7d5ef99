// InodeTable: the superblock's inodes by number -- the kernel's inode hash -- readable under
// RCU with no lock, changed under inode_hash_lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/vfs.h"

namespace lockfs::core {

class Inode;

// Chained buckets, the chains linked through the inodes themselves (Inode::i_hash_next), as
// the kernel's i_hash is. Every change holds the writers' lock (the superblock's
// s_inode_lock); find_rcu() holds nothing but an RCU read-side section.
//
// What a reader may see: removal leaves the removed inode's own link as it was, so a reader
// standing on it walks on; the owner frees a removed inode by RCU (call_rcu), and a replaced
// bucket array stays until unmount. A
// growth relinks inodes into the new chains while readers may be walking the old ones, so a
// reader can miss an inode that is there (never find one that is not: it compares numbers).
// find_rcu() is therefore a hint: a miss sends the caller to the locked find().
class InodeTable {
 public:
  InodeTable();
  ~InodeTable();
  InodeTable(const InodeTable&) = delete;
  InodeTable& operator=(const InodeTable&) = delete;

  // Writers' lock held.
  Inode* find(Ino ino) const;
  void insert(Inode* inode);
  void remove(Inode* inode);
  size_t size() const { return size_; }
  // The chain `ino` hashes to, of bucket_count() (tests: which inodes share a chain).
  size_t bucket_of(Ino ino) const;
  size_t bucket_count() const;
  // Every inode, in no order.
  std::vector<Inode*> all() const;
  // Empties the table and returns what it held as one list linked through i_hash_next
  // (nullptr-terminated). Allocates nothing: unmount runs it from a destructor.
  Inode* take_all();

  // Inside an RCU read-side section: the inode with that number, or nullptr -- possibly
  // wrongly (see above). The inode may be unlinked and evicted already: the caller checks
  // its pin count before using it.
  Inode* find_rcu(Ino ino) const;

 private:
  struct Buckets;
  // kRcu: the walk of find_rcu, with its sync point on each step.
  template <bool kRcu>
  static Inode* walk(const Buckets* b, Ino ino);
  void grow();

  std::atomic<Buckets*> buckets_;
  std::vector<std::unique_ptr<Buckets>> retired_;  // arrays readers may still walk
  size_t size_ = 0;
};

}  // namespace lockfs::core
