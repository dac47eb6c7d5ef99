// An inode's attributes (InodeAttr) and where they live (AttrStore): words that writers
// replace under i_lock and that readers copy without a lock, retrying across a write.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <cstdint>

#include "locking/mutex.h"
#include "locking/seqlock.h"

namespace lockfs::core {

struct InodeAttr {
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  nlink_t nlink = 0;
  uint64_t size = 0;
  dev_t rdev = 0;
  unsigned flags = 0;  // chattr flags (kFlagImmutable, kFlagAppend, kFlagNoatime)
  struct timespec atime {}, mtime {}, ctime {}, btime {};
};

// relatime's question of `a`: atime's second when atime is after both mtime and ctime (then
// only its age can call for an update), else kAtimeStale.
inline constexpr int64_t kAtimeStale = INT64_MIN;
inline int64_t relatime_sec_of(const InodeAttr& a) {
  auto after = [](const timespec& x, const timespec& y) {
    return x.tv_sec > y.tv_sec || (x.tv_sec == y.tv_sec && x.tv_nsec > y.tv_nsec);
  };
  return after(a.atime, a.mtime) && after(a.atime, a.ctime) ? a.atime.tv_sec : kAtimeStale;
}

// The attributes of one inode, readable with no lock, as the kernel's generic_fillattr reads
// an inode's fields with none. Writers replace them whole, with the writers' lock (the
// inode's i_lock) held, inside a sequence count (i_size_seqcount's idea, for all of them);
// a reader that raced a writer retries, so load() is always one writer's result.
//
// Thread safety: store() and load_locked() with the writers' lock held; the rest with any
// or no lock.
class AttrStore {
 public:
  explicit AttrStore(const InodeAttr& a) { put(a); }
  AttrStore(const AttrStore&) = delete;
  AttrStore& operator=(const AttrStore&) = delete;

  // A consistent snapshot.
  InodeAttr load() const {
    InodeAttr a;
    unsigned seq;
    do {
      seq = seq_.read_begin();
      a = get();
    } while (seq_.read_retry(seq));
    return a;
  }
  // The writers' view: nobody else can be writing.
  InodeAttr load_locked(const locking::SpinLock& writers) const LOCKFS_REQUIRES(writers) {
    return get();
  }
  void store(const locking::SpinLock& writers, const InodeAttr& a) LOCKFS_REQUIRES(writers) {
    seq_.write_begin(writers);
    put(a);
    seq_.write_end(writers);
  }

  // One word each, so each is one writer's value on its own; two of them may come from two
  // writers, as two READ_ONCE loads of inode fields may in the kernel.
  uint64_t size() const { return w_[kSize].load(std::memory_order_relaxed); }
  nlink_t nlink() const { return static_cast<nlink_t>(w_[kNlink].load(std::memory_order_relaxed)); }
  // mode and chattr flags share a word (flags << 32 | mode), as do uid and gid (uid << 32 |
  // gid): each pair is one writer's.
  uint64_t mode_flags() const { return w_[kModeFlags].load(std::memory_order_relaxed); }
  uint64_t ids() const { return w_[kIds].load(std::memory_order_relaxed); }
  // relatime_sec_of() the attributes, worked out by their writer: a read asks relatime's
  // question with one load instead of a 13-word snapshot.
  int64_t relatime_sec() const {
    return static_cast<int64_t>(w_[kRelatime].load(std::memory_order_relaxed));
  }

 private:
  enum Word {
    kModeFlags, kIds, kNlink, kSize, kRdev,
    kAtimeSec, kAtimeNsec, kMtimeSec, kMtimeNsec, kCtimeSec, kCtimeNsec, kBtimeSec, kBtimeNsec,
    kRelatime,  // derived: relatime_sec_of(the other words)
    kWords
  };

  void set(Word w, uint64_t v) { w_[w].store(v, std::memory_order_relaxed); }
  uint64_t at(Word w) const { return w_[w].load(std::memory_order_relaxed); }
  void set_time(Word sec, const timespec& t) {
    set(sec, static_cast<uint64_t>(t.tv_sec));
    set(static_cast<Word>(sec + 1), static_cast<uint64_t>(t.tv_nsec));
  }
  timespec time_at(Word sec) const {
    return {static_cast<time_t>(at(sec)), static_cast<long>(at(static_cast<Word>(sec + 1)))};
  }

  void put(const InodeAttr& a) {
    set(kModeFlags, uint64_t{a.flags} << 32 | a.mode);
    set(kIds, uint64_t{a.uid} << 32 | a.gid);
    set(kNlink, a.nlink);
    set(kSize, a.size);
    set(kRdev, a.rdev);
    set_time(kAtimeSec, a.atime);
    set_time(kMtimeSec, a.mtime);
    set_time(kCtimeSec, a.ctime);
    set_time(kBtimeSec, a.btime);
    set(kRelatime, static_cast<uint64_t>(relatime_sec_of(a)));
  }
  InodeAttr get() const {
    InodeAttr a;
    const uint64_t mf = at(kModeFlags), ids = at(kIds);
    a.mode = static_cast<mode_t>(mf);
    a.flags = static_cast<unsigned>(mf >> 32);
    a.uid = static_cast<uid_t>(ids >> 32);
    a.gid = static_cast<gid_t>(ids);
    a.nlink = static_cast<nlink_t>(at(kNlink));
    a.size = at(kSize);
    a.rdev = static_cast<dev_t>(at(kRdev));
    a.atime = time_at(kAtimeSec);
    a.mtime = time_at(kMtimeSec);
    a.ctime = time_at(kCtimeSec);
    a.btime = time_at(kBtimeSec);
    return a;
  }

  std::atomic<uint64_t> w_[kWords];
  locking::SeqCount seq_;
};

}  // namespace lockfs::core
