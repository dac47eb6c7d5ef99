// The class-order graph: adjacency lists under one mutex, plus a lock-free hashed set of the
// (from,to) pairs already known so that repeat acquisitions never take the mutex.
#include "locking/internal/lock_graph.h"

#include <atomic>
#include <deque>
#include <mutex>
#include <vector>

namespace lockfs::locking::internal {

namespace {

struct Edge {
  uint16_t to;
  std::string chain;  // the held chain that first created this edge
};

std::mutex g_graph_mu;
// Allocated on first use and never freed: edges may be added by threads still running while
// static destructors run at exit.
std::vector<Edge>* g_adj = nullptr;  // [kGraphNodes], guarded by g_graph_mu

// Open addressing, linear probing, 0 = empty. Keys are (from << 16 | to); node ids of real
// classes are >= kMaxSubclasses, so a key is never 0. Written only under g_graph_mu.
constexpr size_t kCacheSlots = 1u << 14;
constexpr size_t kMaxProbe = 32;
std::atomic<uint32_t> g_edge_cache[kCacheSlots];

size_t cache_hash(uint32_t key) { return (key * 0x9E3779B1u) >> (32 - 14); }

bool cache_contains(uint32_t key) {
  size_t i = cache_hash(key);
  for (size_t n = 0; n < kMaxProbe; ++n, i = (i + 1) & (kCacheSlots - 1)) {
    const uint32_t v = g_edge_cache[i].load(std::memory_order_acquire);
    if (v == key) return true;
    if (v == 0) return false;
  }
  return false;  // table crowded here: fall back to the graph under the mutex
}

void cache_insert(uint32_t key) {
  size_t i = cache_hash(key);
  for (size_t n = 0; n < kMaxProbe; ++n, i = (i + 1) & (kCacheSlots - 1)) {
    const uint32_t v = g_edge_cache[i].load(std::memory_order_relaxed);
    if (v == key) return;
    if (v == 0) {
      g_edge_cache[i].store(key, std::memory_order_release);
      return;
    }
  }
}

std::vector<Edge>& adj(uint16_t node) {
  if (g_adj == nullptr) g_adj = new std::vector<Edge>[kGraphNodes];
  return g_adj[node];
}

bool has_edge(uint16_t from, uint16_t to) {
  for (const Edge& e : adj(from)) {
    if (e.to == to) return true;
  }
  return false;
}

// BFS from `src` to `dst`; returns the edges of the path (empty when unreachable).
std::vector<const Edge*> find_path(uint16_t src, uint16_t dst) {
  std::vector<int32_t> prev(kGraphNodes, -1);
  std::vector<const Edge*> via(kGraphNodes, nullptr);
  std::deque<uint16_t> queue{src};
  prev[src] = src;
  while (!queue.empty()) {
    const uint16_t n = queue.front();
    queue.pop_front();
    if (n == dst) break;
    for (const Edge& e : adj(n)) {
      if (prev[e.to] != -1) continue;
      prev[e.to] = n;
      via[e.to] = &e;
      queue.push_back(e.to);
    }
  }
  std::vector<const Edge*> path;
  if (prev[dst] == -1 || src == dst) return path;
  for (uint16_t n = dst; n != src; n = static_cast<uint16_t>(prev[n])) path.push_back(via[n]);
  return {path.rbegin(), path.rend()};
}

}  // namespace

std::string graph_node_name(uint16_t node) {
  const LockClass* cls = lock_class_by_id(static_cast<uint16_t>(node / kMaxSubclasses));
  const auto sub = static_cast<Subclass>(node % kMaxSubclasses);
  std::string s = cls != nullptr ? cls->name() : "?";
  if (sub != Subclass::kNormal) {
    s += '/';
    s += subclass_name(sub);
  }
  return s;
}

bool graph_edge_known(uint16_t from, uint16_t to) {
  return cache_contains(static_cast<uint32_t>(from) << 16 | to);
}

bool graph_add_edge(uint16_t from, uint16_t to, const std::string& chain, std::string* reverse) {
  const uint32_t key = static_cast<uint32_t>(from) << 16 | to;
  std::lock_guard lk(g_graph_mu);
  if (has_edge(from, to)) {
    cache_insert(key);
    return false;
  }
  const std::vector<const Edge*> path = find_path(to, from);
  // Either way the pair is now known: a cycle is reported once, not on every acquisition.
  cache_insert(key);
  if (!path.empty()) {
    std::string r;
    uint16_t n = to;
    for (const Edge* e : path) {
      r += "    " + graph_node_name(n) + " -> " + graph_node_name(e->to) +
           " first taken as: " + e->chain + "\n";
      n = e->to;
    }
    *reverse = std::move(r);
    return true;
  }
  adj(from).push_back(Edge{to, chain});
  return false;
}

void graph_reset() {
  std::lock_guard lk(g_graph_mu);
  if (g_adj != nullptr) {
    for (size_t i = 0; i < kGraphNodes; ++i) g_adj[i].clear();
  }
  for (auto& slot : g_edge_cache) slot.store(0, std::memory_order_relaxed);
}

}  // namespace lockfs::locking::internal
