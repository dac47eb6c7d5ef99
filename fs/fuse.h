// The one include of libfuse's low-level API for fs/: pins the API version lockfs is written
// against (3.14: ioctl with an unsigned cmd, fuse_session_loop_mt with a loop config).
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
