// The validator's global class-order graph over (class id, subclass) nodes. Internal.
#pragma once

#include <cstdint>
#include <string>

#include "locking/lock_class.h"

namespace lockfs::locking::internal {

inline constexpr size_t kGraphNodes = (kMaxLockClasses + 1) * kMaxSubclasses;

inline uint16_t graph_node(const LockClass* cls, Subclass s) {
  return static_cast<uint16_t>(cls->id() * kMaxSubclasses + static_cast<int>(s));
}
// "i_rwsem(dir)/parent" for a node.
std::string graph_node_name(uint16_t node);

// Lock-free: true when from->to was seen before (or already reported as a cycle). The hot path
// of every instrumented acquire; the graph mutex is only taken for edges not seen yet.
bool graph_edge_known(uint16_t from, uint16_t to);

// Adds from->to unless it closes a cycle. `chain` describes how this thread got there (kept
// with the edge for later reports). Returns true on a cycle and fills `reverse` with the
// stored chains of the existing path to -> ... -> from.
bool graph_add_edge(uint16_t from, uint16_t to, const std::string& chain, std::string* reverse);

void graph_reset();

}  // namespace lockfs::locking::internal
