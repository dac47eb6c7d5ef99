// Logger setup. One sink for all four loggers so their lines interleave in order.
#include "fs/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

#include <cstdio>

#include "fs/fuse.h"

namespace lockfs::fs {
namespace {

std::shared_ptr<spdlog::logger> g_fs;

// libfuse's own messages (fuse_log) go to the "fuse" logger at the matching level.
void fuse_log_to_spdlog(enum fuse_log_level level, const char* fmt, va_list ap) {
  auto logger = spdlog::get("fuse");
  if (!logger) return;
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt, ap);
  std::string msg(buf);
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  spdlog::level::level_enum lvl = spdlog::level::debug;
  switch (level) {
    case FUSE_LOG_EMERG:
    case FUSE_LOG_ALERT:
    case FUSE_LOG_CRIT: lvl = spdlog::level::critical; break;
    case FUSE_LOG_ERR: lvl = spdlog::level::err; break;
    case FUSE_LOG_WARNING: lvl = spdlog::level::warn; break;
    case FUSE_LOG_NOTICE:
    case FUSE_LOG_INFO: lvl = spdlog::level::info; break;
    case FUSE_LOG_DEBUG: lvl = spdlog::level::debug; break;
  }
  logger->log(lvl, "{}", msg);
}

}  // namespace

spdlog::logger* fs_log() {
  if (!g_fs) {
    g_fs = spdlog::get("fs");
    if (!g_fs) g_fs = spdlog::stderr_color_mt("fs");
  }
  return g_fs.get();
}

bool setup_logging(const LogConfig& cfg) {
  auto level = spdlog::level::from_str(cfg.level);
  // from_str maps unknown names to "off"; only accept "off" when it was asked for.
  if (level == spdlog::level::off && cfg.level != "off") {
    fprintf(stderr, "lockfs: unknown log_level '%s' (trace, debug, info, warn, error, critical, off)\n",
            cfg.level.c_str());
    return false;
  }
  spdlog::sink_ptr sink;
  try {
    if (!cfg.file.empty()) {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(cfg.file);
    } else if (cfg.foreground) {
      sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("lockfs", LOG_PID, LOG_DAEMON, false);
    }
  } catch (const spdlog::spdlog_ex& e) {
    fprintf(stderr, "lockfs: cannot open log_file '%s': %s\n", cfg.file.c_str(), e.what());
    return false;
  }
  for (const char* name : {"fs", "core", "lock", "fuse"}) {
    spdlog::drop(name);
    auto logger = std::make_shared<spdlog::logger>(name, sink);
    logger->set_level(level);
    logger->flush_on(spdlog::level::warn);
    spdlog::register_logger(logger);
  }
  g_fs = spdlog::get("fs");
  fuse_set_log_func(fuse_log_to_spdlog);
  return true;
}

}  // namespace lockfs::fs
