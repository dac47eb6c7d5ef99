// RCU, the part lockfs needs: readers of a linked structure that take no lock and never
// wait, and writers that unlink an object under their own lock and free it only once every
// reader that could still reach it has left (call_rcu).
//
// As in the kernel, a read-side section is short and may not sleep or wait for a lock
// (rcu_read_lock's "may not block"); what a reader finds is valid memory until its
// rcu_read_unlock, but may be already unlinked: the reader checks what it needs (an inode's
// pin count) before relying on it. Read-side sections are not lock sections: they are
// neither traced nor validated, as they cannot deadlock.
//
// The implementation is epoch-based reclamation. A reader's outermost rcu_read_lock
// publishes the global epoch in its thread's slot; call_rcu tags the object with the epoch
// and advances it; the object is freed once every slot is empty or newer than its tag.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lockfs::locking {

// Nestable; never waits. A thread's first section takes a reader slot (a mutex, and an
// allocation that may throw std::bad_alloc with no section entered); later ones touch only
// the thread's slot. Every rcu_read_lock is matched by an rcu_read_unlock on the same thread.
void rcu_read_lock();
void rcu_read_unlock();

class RcuReadGuard {
 public:
  RcuReadGuard() { rcu_read_lock(); }
  ~RcuReadGuard() { rcu_read_unlock(); }
  RcuReadGuard(const RcuReadGuard&) = delete;
  RcuReadGuard& operator=(const RcuReadGuard&) = delete;
};

using RcuFree = void (*)(void* obj);

// What call_rcu queues: embedded in the object it frees (the kernel's rcu_head), so that
// call_rcu allocates nothing and cannot fail -- it runs on eviction, from destructors.
struct RcuHead {
  RcuHead* next = nullptr;
  void* obj = nullptr;
  RcuFree free_fn = nullptr;
  uint64_t tag = 0;
};

// Runs free_fn(obj) once every read-side section begun before this call has ended: here, if
// none is running, else in a later call_rcu or rcu_barrier, on whichever thread makes it
// (so a free may wait for the next one). The caller has already unlinked obj, so no new
// reader can find it. May sleep -- it takes a mutex and runs the frees that are ready, any
// caller's, inline -- so never under a spinlock (the validator reports it). Allocates nothing.
// `head` belongs to obj and stays untouched until the free.
void call_rcu(RcuHead* head, void* obj, RcuFree free_fn);

// Waits until every free queued before this call has run (running those it can itself).
// May sleep: not under a spinlock nor in a read-side section.
void rcu_barrier();

// Frees queued or running (tests, and the checks of an unmount).
size_t rcu_pending();
// Reader slots in existence: one per thread reading at the same time, reused after a thread
// exits (tests).
size_t rcu_reader_slots();

}  // namespace lockfs::locking
