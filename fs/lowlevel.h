// The fuse_lowlevel_ops table lockfs registers with fuse_session_new.
#pragma once

#include "fs/fuse.h"

namespace lockfs::fs {

const fuse_lowlevel_ops& lowlevel_ops();

}  // namespace lockfs::fs
