// Clang thread-safety annotations (-Wthread-safety). They expand to nothing under g++,
// so both builds stay warning-free; clang's build is our static check of lock rules.
#pragma once

#if defined(__clang__)
#define LOCKFS_TSA(x) __attribute__((x))
#else
#define LOCKFS_TSA(x)
#endif

#define LOCKFS_CAPABILITY(x) LOCKFS_TSA(capability(x))
#define LOCKFS_SCOPED_CAPABILITY LOCKFS_TSA(scoped_lockable)
#define LOCKFS_GUARDED_BY(x) LOCKFS_TSA(guarded_by(x))
#define LOCKFS_PT_GUARDED_BY(x) LOCKFS_TSA(pt_guarded_by(x))
#define LOCKFS_ACQUIRED_BEFORE(...) LOCKFS_TSA(acquired_before(__VA_ARGS__))
#define LOCKFS_ACQUIRED_AFTER(...) LOCKFS_TSA(acquired_after(__VA_ARGS__))
#define LOCKFS_REQUIRES(...) LOCKFS_TSA(requires_capability(__VA_ARGS__))
#define LOCKFS_REQUIRES_SHARED(...) LOCKFS_TSA(requires_shared_capability(__VA_ARGS__))
#define LOCKFS_ACQUIRE(...) LOCKFS_TSA(acquire_capability(__VA_ARGS__))
#define LOCKFS_ACQUIRE_SHARED(...) LOCKFS_TSA(acquire_shared_capability(__VA_ARGS__))
#define LOCKFS_RELEASE(...) LOCKFS_TSA(release_capability(__VA_ARGS__))
#define LOCKFS_RELEASE_SHARED(...) LOCKFS_TSA(release_shared_capability(__VA_ARGS__))
#define LOCKFS_RELEASE_GENERIC(...) LOCKFS_TSA(release_generic_capability(__VA_ARGS__))
#define LOCKFS_TRY_ACQUIRE(...) LOCKFS_TSA(try_acquire_capability(__VA_ARGS__))
#define LOCKFS_TRY_ACQUIRE_SHARED(...) LOCKFS_TSA(try_acquire_shared_capability(__VA_ARGS__))
#define LOCKFS_EXCLUDES(...) LOCKFS_TSA(locks_excluded(__VA_ARGS__))
#define LOCKFS_ASSERT_CAPABILITY(x) LOCKFS_TSA(assert_capability(x))
#define LOCKFS_ASSERT_SHARED_CAPABILITY(x) LOCKFS_TSA(assert_shared_capability(x))
#define LOCKFS_RETURN_CAPABILITY(x) LOCKFS_TSA(lock_returned(x))
#define LOCKFS_NO_THREAD_SAFETY_ANALYSIS LOCKFS_TSA(no_thread_safety_analysis)
