// Sync points: named callbacks tests install to order threads deterministically.
#include "locking/sync_point.h"

#include <atomic>
#include <map>
#include <mutex>
#include <string>

namespace lockfs::locking {

std::atomic<size_t> g_sync_installed{0};

namespace {
std::mutex g_sync_mu;
std::map<std::string, std::function<void()>, std::less<>>* g_sync_map = nullptr;  // g_sync_mu

std::map<std::string, std::function<void()>, std::less<>>& sync_map() {
  if (g_sync_map == nullptr)
    g_sync_map = new std::map<std::string, std::function<void()>, std::less<>>();
  return *g_sync_map;
}
}  // namespace

void sync_point_process(std::string_view name) {
  std::function<void()> cb;
  {
    std::lock_guard lk(g_sync_mu);
    auto& m = sync_map();
    auto it = m.find(name);
    if (it == m.end()) return;
    cb = it->second;
  }
  cb();  // outside the mutex: callbacks block and may install others
}

void sync_point_set(std::string_view name, std::function<void()> cb) {
  std::lock_guard lk(g_sync_mu);
  auto& m = sync_map();
  if (cb) {
    m[std::string(name)] = std::move(cb);
  } else {
    auto it = m.find(name);
    if (it != m.end()) m.erase(it);
  }
  g_sync_installed.store(m.size(), std::memory_order_release);
}

void sync_point_clear_all() {
  std::lock_guard lk(g_sync_mu);
  sync_map().clear();
  g_sync_installed.store(0, std::memory_order_release);
}

}  // namespace lockfs::locking
