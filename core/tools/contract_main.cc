// lockfs-contract: prints the locking contract table of a profile, or the difference between
// two profiles. All formatting lives in locking/contract (lockfs-ctl prints the same).
//
//   lockfs-contract [--profile=P] [OP]     P: current (default), 5.x, 3.x; OP: "op" or "table.op"
//   lockfs-contract --diff P1 P2
// Exit status: 0, or 2 for bad arguments (unknown profile or op, wrong arity).
#include <iostream>
#include <string_view>
#include <vector>

#include "locking/contract.h"

namespace contract = lockfs::locking::contract;

namespace {

constexpr int kUsageError = 2;

int usage(std::string_view complaint) {
  std::cerr << "lockfs-contract: " << complaint << "\n"
            << "usage: lockfs-contract [--profile=current|5.x|3.x] [OP | TABLE.OP]\n"
            << "       lockfs-contract --diff PROFILE1 PROFILE2\n";
  return kUsageError;
}

bool parse_profile(std::string_view name, contract::Profile* out) {
  auto p = contract::profile_by_name(name);
  if (!p.ok()) return false;
  *out = *p;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) {
    usage("prints the locking contract of a profile, or the diff of two");
    return 0;
  }
  if (!args.empty() && args[0] == "--diff") {
    if (args.size() != 3) return usage("--diff takes exactly two profiles");
    contract::Profile a, b;
    if (!parse_profile(args[1], &a)) return usage("unknown profile '" + std::string(args[1]) + "'");
    if (!parse_profile(args[2], &b)) return usage("unknown profile '" + std::string(args[2]) + "'");
    contract::print_diff(std::cout, a, b);
    return 0;
  }
  contract::Profile profile = contract::Profile::kCurrent;
  std::string_view only;
  bool have_op = false;
  for (std::string_view arg : args) {
    constexpr std::string_view kProfileFlag = "--profile=";
    if (arg.substr(0, kProfileFlag.size()) == kProfileFlag) {
      std::string_view name = arg.substr(kProfileFlag.size());
      if (!parse_profile(name, &profile))
        return usage("unknown profile '" + std::string(name) + "'");
    } else if (arg.empty() || arg[0] == '-') {
      return usage("unknown option '" + std::string(arg) + "'");
    } else if (have_op) {
      return usage("at most one OP");
    } else {
      only = arg;
      have_op = true;
    }
  }
  if (have_op) {
    bool found = false;
    for (const contract::Row& r : contract::rows(profile))
      found = found || contract::row_matches(r, only);
    if (!found) {
      return usage("no op '" + std::string(only) + "' in profile " +
                   contract::profile_name(profile));
    }
  }
  contract::print_table(std::cout, profile, only);
  return 0;
}
