// OnExit: the undo of a step an exception (std::bad_alloc) may cut short. In core/mm because
// lockfs_mm, the lowest library of core/, needs it too; core's vfs callers get it through
// core/vfs_internal.h.
#pragma once

#include <utility>

namespace lockfs::core {

// Runs `fn` when the scope ends unless dismissed: the undo of a step an exception may cut
// short. Thread safety: a scope object of one thread.
template <typename Fn>
class OnExit {
 public:
  explicit OnExit(Fn fn) : fn_(std::move(fn)) {}
  ~OnExit() {
    if (armed_) fn_();
  }
  OnExit(const OnExit&) = delete;
  OnExit& operator=(const OnExit&) = delete;
  void dismiss() { armed_ = false; }

 private:
  Fn fn_;
  bool armed_ = true;
};

}  // namespace lockfs::core
