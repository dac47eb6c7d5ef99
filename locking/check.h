// LOCKFS_CHECK: a broken invariant is a bug, not an errno. Logs critical and aborts.
#pragma once

namespace lockfs::locking {
[[noreturn]] void check_failed(const char* file, int line, const char* cond, const char* msg);
}  // namespace lockfs::locking

#define LOCKFS_CHECK(cond, msg)                                               \
  do {                                                                        \
    if (__builtin_expect(!(cond), 0))                                         \
      ::lockfs::locking::check_failed(__FILE__, __LINE__, #cond, (msg));      \
  } while (0)
