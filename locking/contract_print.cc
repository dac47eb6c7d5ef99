// Printing the contract: the table of one profile and the difference between two profiles.
// Both are generated from the rows (contract_*.cc); nothing here restates a rule.
#include <algorithm>
#include <cstring>
#include <iomanip>
#include <set>
#include <string>

#include "locking/contract.h"
#include "locking/contract_data.h"

namespace lockfs::locking::contract {
namespace {

constexpr size_t kLocksWidth = 64;  // the locks column wraps between rules past this width

const char* profile_source(Profile p) {
  switch (p) {
    case Profile::kCurrent:
      return "shared/reference/locking.rst";
    case Profile::kV5:
      return "5.x locking.rst, seed 003";
    case Profile::kV3:
      return "3.x Documentation/filesystems/Locking, seed 002";
  }
  return "?";
}

// The rules of a row, one string per rule ("takes ..." for what the method takes itself).
std::vector<std::string> lock_pieces(const Row& row, Profile p) {
  std::vector<std::string> pieces;
  std::string all = format_locks(row, p);
  if (all == "-") return {"-"};
  size_t start = 0;
  while (true) {
    size_t sep = all.find("; ", start);
    pieces.push_back(all.substr(start, sep == std::string::npos ? sep : sep - start));
    if (sep == std::string::npos) break;
    start = sep + 2;
  }
  return pieces;
}

// Packs the pieces into lines no wider than kLocksWidth (a longer piece gets a line alone).
std::vector<std::string> wrap(const std::vector<std::string>& pieces) {
  std::vector<std::string> lines;
  for (const std::string& piece : pieces) {
    if (!lines.empty() && lines.back().size() + 2 + piece.size() <= kLocksWidth) {
      lines.back() += "; " + piece;
    } else {
      if (!lines.empty()) lines.back() += ";";
      lines.push_back(piece);
    }
  }
  return lines;
}

std::string exercised_text(const Row& row) {
  return row.exercised ? std::string("yes") : std::string("no: ") + row.reason;
}

void print_rows_of_table(std::ostream& os, Profile p, const std::vector<const Row*>& rows) {
  size_t op_w = 2, locks_w = 5, block_w = 9, folio_w = 5;
  std::vector<std::vector<std::string>> wrapped;
  for (const Row* r : rows) {
    wrapped.push_back(wrap(lock_pieces(*r, p)));
    op_w = std::max(op_w, std::strlen(r->op));
    for (const std::string& l : wrapped.back()) locks_w = std::max(locks_w, l.size());
    block_w = std::max(block_w, std::strlen(may_block_name(r->may_block)));
    folio_w = std::max(folio_w, folio_state_text(r->folio, p).size());
  }
  auto line = [&](std::string_view op, std::string_view locks, std::string_view block,
                  std::string_view folio, std::string_view ex) {
    std::string text = std::string(op) + std::string(op_w - op.size(), ' ') + " | " +
                       std::string(locks) + std::string(locks_w - locks.size(), ' ') + " | " +
                       std::string(block) + std::string(block_w - block.size(), ' ') + " | " +
                       std::string(folio) + std::string(folio_w - folio.size(), ' ') + " | " +
                       std::string(ex);
    while (!text.empty() && text.back() == ' ') text.pop_back();
    os << "  " << text << '\n';
  };
  line("op", "locks", "may block", p == Profile::kCurrent ? "folio" : "page", "exercised");
  line(std::string(op_w, '-'), std::string(locks_w, '-'), std::string(block_w, '-'),
       std::string(folio_w, '-'), "---------");
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = *rows[i];
    const auto& locks = wrapped[i];
    line(r.op, locks[0], may_block_name(r.may_block), folio_state_text(r.folio, p),
         exercised_text(r));
    for (size_t j = 1; j < locks.size(); ++j) line("", locks[j], "", "", "");
    if (r.note[0] != '\0') os << "  " << std::string(op_w, ' ') << "   note: " << r.note << '\n';
  }
}

bool same_rules(const std::vector<LockRule>& a, const std::vector<LockRule>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].role != b[i].role || a[i].lock != b[i].lock || a[i].req != b[i].req ||
        std::strcmp(a[i].condition, b[i].condition) != 0) {
      return false;
    }
  }
  return true;
}

// Whether two rows state different rules. Lock renames between texts (i_mutex -> i_rwsem)
// are not differences: the rows hold LockIds, and the header of the diff lists the renames.
bool rules_differ(const Row& a, const Row& b) {
  return !same_rules(a.locks, b.locks) || !same_rules(a.takes, b.takes) ||
         a.may_block != b.may_block || a.folio != b.folio;
}

// Notes are compared apart from the rules: "yes (both)" vs "exclusive (both)" is a change of
// words, and is listed as such rather than as a changed rule.
bool note_differs(const Row& a, const Row& b) { return std::strcmp(a.note, b.note) != 0; }

void print_version(std::ostream& os, Profile p, const Row& r) {
  os << "      " << std::left << std::setw(9) << (std::string(profile_name(p)) + ":") << r.op
     << ": " << format_locks(r, p) << " | may block: " << may_block_name(r.may_block) << " | "
     << (p == Profile::kCurrent ? "folio" : "page") << ": " << folio_state_text(r.folio, p);
  if (r.note[0] != '\0') os << " | note: " << r.note;
  os << '\n';
}

// The rename entry pairing `op` of profile `a` with an op only in `b`, or nullptr.
const char* renamed_counterpart(std::string_view table, std::string_view op, Profile a, Profile b,
                                const std::set<std::string_view>& taken) {
  for (const data::Rename& rn : data::renames()) {
    if (table != rn.table) continue;
    const char* other = nullptr;
    if (op == rn.newer) other = rn.older;
    if (op == rn.older) other = rn.newer;
    if (other == nullptr || taken.count(other) != 0) continue;
    if (find_row(b, table, other) != nullptr && find_row(a, table, other) == nullptr) {
      return other;
    }
  }
  return nullptr;
}

// Prints the differences in one table; false when there are none.
bool print_table_diff(std::ostream& os, std::string_view table, Profile a, Profile b) {
  std::vector<const Row*> only_a, only_b;
  std::vector<std::pair<const Row*, const Row*>> renamed, changed, reworded;
  std::set<std::string_view> paired_b;
  for (const Row& r : rows(a)) {
    if (table != r.table) continue;
    if (const Row* other = find_row(b, table, r.op)) {
      if (rules_differ(r, *other)) {
        changed.emplace_back(&r, other);
      } else if (note_differs(r, *other)) {
        reworded.emplace_back(&r, other);
      }
    } else if (const char* o = renamed_counterpart(table, r.op, a, b, paired_b)) {
      paired_b.insert(o);
      renamed.emplace_back(&r, find_row(b, table, o));
    } else {
      only_a.push_back(&r);
    }
  }
  for (const Row& r : rows(b)) {
    if (table == r.table && find_row(a, table, r.op) == nullptr && paired_b.count(r.op) == 0) {
      only_b.push_back(&r);
    }
  }
  if (only_a.empty() && only_b.empty() && renamed.empty() && changed.empty() && reworded.empty()) {
    return false;
  }
  os << "== " << table << " ==\n";
  auto list = [&](Profile p, const std::vector<const Row*>& only) {
    if (only.empty()) return;
    os << "  only in " << profile_name(p) << ":\n";
    for (const Row* r : only) print_version(os, p, *r);
  };
  list(a, only_a);
  list(b, only_b);
  for (const auto& [ra, rb] : renamed) {
    os << "  renamed " << ra->op << " (" << profile_name(a) << ") / " << rb->op << " ("
       << profile_name(b) << ")" << (rules_differ(*ra, *rb) ? ", rules differ" : "")
       << (note_differs(*ra, *rb) ? ", note differs" : "") << ":\n";
    print_version(os, a, *ra);
    print_version(os, b, *rb);
  }
  for (const auto& [ra, rb] : changed) {
    os << "  changed " << ra->op << ":\n";
    print_version(os, a, *ra);
    print_version(os, b, *rb);
  }
  for (const auto& [ra, rb] : reworded) {
    os << "  note only " << ra->op << ":\n";
    os << "      " << std::left << std::setw(9) << (std::string(profile_name(a)) + ":")
       << (ra->note[0] != '\0' ? ra->note : "(none)") << '\n';
    os << "      " << std::left << std::setw(9) << (std::string(profile_name(b)) + ":")
       << (rb->note[0] != '\0' ? rb->note : "(none)") << '\n';
  }
  return true;
}

}  // namespace

void print_table(std::ostream& os, Profile p, std::string_view only) {
  std::vector<std::string_view> tables;  // in the order of the text
  size_t n = 0, exercised = 0;
  for (const Row& r : rows(p)) {
    if (!row_matches(r, only)) continue;
    ++n;
    exercised += r.exercised ? 1 : 0;
    if (std::find(tables.begin(), tables.end(), r.table) == tables.end()) {
      tables.push_back(r.table);
    }
  }
  os << "locking contract, profile " << profile_name(p) << " (" << profile_source(p) << "): " << n
     << " row" << (n == 1 ? "" : "s") << ", " << exercised << " exercised on FUSE\n";
  for (std::string_view table : tables) {
    std::vector<const Row*> selected;
    for (const Row& r : rows(p)) {
      if (table == r.table && row_matches(r, only)) selected.push_back(&r);
    }
    os << "\n== " << table << " ==\n";
    print_rows_of_table(os, p, selected);
  }
}

void print_diff(std::ostream& os, Profile a, Profile b) {
  os << "locking contract diff: " << profile_name(a) << " (" << profile_source(a) << ") vs "
     << profile_name(b) << " (" << profile_source(b) << ")\n";
  bool header = false;
  for (int i = 0; i <= static_cast<int>(data::kLastLockId); ++i) {
    auto l = static_cast<LockId>(i);
    if (std::strcmp(lock_name(l, a), lock_name(l, b)) != 0) {
      if (!header) os << "lock names:";
      os << (header ? ", " : " ") << lock_name(l, a) << " (" << profile_name(a)
         << ") = " << lock_name(l, b) << " (" << profile_name(b) << ")";
      header = true;
    }
  }
  if (header) os << '\n';
  std::vector<std::string_view> tables;  // tables of a in a's order, then tables only in b
  for (Profile p : {a, b}) {
    for (const Row& r : rows(p)) {
      if (std::find(tables.begin(), tables.end(), r.table) == tables.end()) {
        tables.push_back(r.table);
      }
    }
  }
  bool any = false;
  for (std::string_view table : tables) any |= print_table_diff(os, table, a, b);
  if (!any) os << "no differences\n";
}

}  // namespace lockfs::locking::contract
