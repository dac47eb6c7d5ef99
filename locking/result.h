// Result<T>: a value or a negative errno, the kernel's convention. Never throws.
#pragma once

#include <cerrno>
#include <optional>
#include <type_traits>
#include <utility>

#include "locking/check.h"

namespace lockfs {

// An error as a negative errno. Implicitly converts into any Result<T>.
struct Err {
  int neg_errno;  // always < 0
};
inline constexpr Err err(int neg_errno) { return Err{neg_errno}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(const T& v) : value_(v) {}                          // NOLINT: implicit by design
  Result(T&& v) : value_(std::move(v)) {}                    // NOLINT
  Result(Err e) : error_(e.neg_errno) { LOCKFS_CHECK(e.neg_errno < 0, "Result: errno must be < 0"); }  // NOLINT

  bool ok() const { return error_ == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return error_; }  // negative errno, 0 when ok
  T& value() & { LOCKFS_CHECK(ok(), "Result::value on error"); return *value_; }
  const T& value() const& { LOCKFS_CHECK(ok(), "Result::value on error"); return *value_; }
  T&& value() && { LOCKFS_CHECK(ok(), "Result::value on error"); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  int error_ = 0;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Err e) : error_(e.neg_errno) { LOCKFS_CHECK(e.neg_errno < 0, "Result: errno must be < 0"); }  // NOLINT
  // From a kernel-style int: 0 or a negative errno.
  static Result from_int(int rc) { return rc < 0 ? Result(Err{rc}) : Result(); }

  bool ok() const { return error_ == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return error_; }

 private:
  int error_ = 0;
};

inline Result<void> ok() { return {}; }

}  // namespace lockfs

// Propagates an error from a Result-returning expression: LOCKFS_TRY(vfs_foo(...));
#define LOCKFS_TRY(expr)                                  \
  do {                                                    \
    auto&& _lockfs_r = (expr);                            \
    if (!_lockfs_r.ok()) return ::lockfs::err(_lockfs_r.error()); \
  } while (0)
