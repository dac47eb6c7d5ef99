// The daemon's loggers ("fs", "core", "lock", "fuse"), created once by fs/main.cc. Headers do
// not include spdlog; .cc files include <spdlog/spdlog.h> and call fs_log().
#pragma once

#include <string>

namespace spdlog {
class logger;
}

namespace lockfs::fs {

// Never null once setup_logging() ran; before that, a stderr logger.
spdlog::logger* fs_log();

struct LogConfig {
  std::string level = "info";  // spdlog level name: trace, debug, info, warn, error, critical, off
  std::string file;            // empty: stderr in the foreground, syslog otherwise
  bool foreground = true;
};
// Creates and registers the four loggers with one shared sink. Returns false (and prints why
// to stderr) when the level is unknown or the log file cannot be opened.
bool setup_logging(const LogConfig& cfg);

}  // namespace lockfs::fs
