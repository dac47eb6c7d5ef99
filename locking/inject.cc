// The fault-injection rule engine. Rules live in one mutex-protected list; the hot paths only
// read g_nr_rules until a rule exists. Decisions (filters, PRNG, counts) are taken under the
// mutex so counted and seeded rules behave the same under concurrency; sleeps happen after
// it is dropped.
#include "locking/inject.h"

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "locking/internal/runtime.h"
#include "locking/task.h"

namespace lockfs::locking::inject {

namespace internal {
std::atomic<uint32_t> g_nr_rules{0};
}  // namespace internal

namespace {
// Publishes the rule count. The primitives call their acquire hook only while some
// instrumentation is on, so a rule also sets the "inject" instrumentation bit: lock holds
// then fire with the validator and tracer off too.
void publish_rule_count(size_t n) {
  internal::g_nr_rules.store(static_cast<uint32_t>(n), std::memory_order_relaxed);
  if (n != 0) {
    locking::internal::g_instrumented.fetch_or(locking::internal::kInstrInject,
                                               std::memory_order_relaxed);
  } else {
    locking::internal::g_instrumented.fetch_and(~locking::internal::kInstrInject,
                                                std::memory_order_relaxed);
  }
}
}  // namespace

namespace {

struct Installed {
  uint64_t id;
  Rule rule;
  uint64_t prng;  // splitmix64 state
  uint64_t fired = 0;
};

std::mutex g_mu;
std::vector<Installed> g_rules;  // guarded by g_mu
uint64_t g_next_id = 1;          // guarded by g_mu

struct ErrnoName {
  const char* name;
  int value;
};
constexpr ErrnoName kErrnos[] = {
    {"EPERM", EPERM},         {"ENOENT", ENOENT},       {"EINTR", EINTR},
    {"EIO", EIO},             {"ENXIO", ENXIO},         {"E2BIG", E2BIG},
    {"EBADF", EBADF},         {"EAGAIN", EAGAIN},       {"ENOMEM", ENOMEM},
    {"EACCES", EACCES},       {"EFAULT", EFAULT},       {"EBUSY", EBUSY},
    {"EEXIST", EEXIST},       {"EXDEV", EXDEV},         {"ENOTDIR", ENOTDIR},
    {"EISDIR", EISDIR},       {"EINVAL", EINVAL},       {"ENFILE", ENFILE},
    {"EMFILE", EMFILE},       {"ETXTBSY", ETXTBSY},     {"EFBIG", EFBIG},
    {"ENOSPC", ENOSPC},       {"ESPIPE", ESPIPE},       {"EROFS", EROFS},
    {"EMLINK", EMLINK},       {"ERANGE", ERANGE},       {"EDEADLK", EDEADLK},
    {"ENAMETOOLONG", ENAMETOOLONG}, {"ENOLCK", ENOLCK}, {"ENOSYS", ENOSYS},
    {"ENOTEMPTY", ENOTEMPTY}, {"ELOOP", ELOOP},         {"ENODATA", ENODATA},
    {"EOVERFLOW", EOVERFLOW}, {"EOPNOTSUPP", EOPNOTSUPP}, {"ETIMEDOUT", ETIMEDOUT},
    {"ESTALE", ESTALE},       {"EDQUOT", EDQUOT},       {"ECANCELED", ECANCELED},
};

const char* errno_name(int e) {
  for (const auto& n : kErrnos)
    if (n.value == e) return n.name;
  return nullptr;
}

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <typename T>
bool parse_uint(std::string_view s, T& out) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

// "250ms", "2s", "500us", "300" (ms).
bool parse_duration(std::string_view s, uint64_t& us) {
  uint64_t mult = 1000;
  if (s.ends_with("us")) {
    mult = 1;
    s.remove_suffix(2);
  } else if (s.ends_with("ms")) {
    s.remove_suffix(2);
  } else if (s.ends_with("s")) {
    mult = 1000000;
    s.remove_suffix(1);
  }
  uint64_t n = 0;
  if (!parse_uint(s, n) || n > UINT64_MAX / mult) return false;
  us = n * mult;
  return true;
}

bool parse_errno(std::string_view s, int& e) {
  if (s.starts_with("-")) s.remove_prefix(1);
  for (const auto& n : kErrnos) {
    if (s == n.name) {
      e = n.value;
      return true;
    }
  }
  return parse_uint(s, e) && e > 0 && e < 4096;
}

std::string format_duration(uint64_t us) {
  return us % 1000 == 0 ? std::to_string(us / 1000) + "ms" : std::to_string(us) + "us";
}

// Checks what parse() checks, for rules built in code.
Result<void> validate(const Rule& r) {
  if (!(r.prob >= 0.0 && r.prob <= 1.0)) return err(-EINVAL);
  switch (r.action) {
    case Action::kHold:
      if (r.lock.empty()) return err(-EINVAL);
      break;
    case Action::kFail:
      if (r.error <= 0 || r.error >= 4096) return err(-EINVAL);
      [[fallthrough]];
    case Action::kDelay:
      if (!r.lock.empty() || r.mode) return err(-EINVAL);
      break;
  }
  return ok();
}

bool op_matches(const Rule& r, const char* op) {
  return r.op.empty() || (op != nullptr && r.op == op);
}

// "i_rwsem(dir)" matches itself; "i_rwsem" matches every "i_rwsem(...)" class.
bool class_matches(const std::string& want, const char* name) {
  if (name == nullptr) return false;
  std::string_view n(name);
  if (n == want) return true;
  return want.find('(') == std::string::npos && n.size() > want.size() &&
         n.starts_with(want) && n[want.size()] == '(';
}

// Rolls the rule's dice and spends one of its count. Caller holds g_mu.
bool fires(Installed& in) {
  const Rule& r = in.rule;
  if (r.count != 0 && in.fired >= r.count) return false;
  if (r.prob < 1.0) {
    double u = static_cast<double>(splitmix64(in.prng) >> 11) * 0x1.0p-53;
    if (u >= r.prob) return false;
  }
  ++in.fired;
  return true;
}

// Sleeps `us`; returns -EINTR early when the current task gets a fatal signal. Polls in short
// slices: the hold must not register on a wait queue (it is not a lock wait), and a few ms
// of latency on a kill is well inside the one second a killed process has to exit.
int sleep_killable(uint64_t us) {
  using namespace std::chrono;
  Task& t = current();
  const auto end = steady_clock::now() + microseconds(us);
  for (;;) {
    if (t.fatal_signal_pending()) return -EINTR;
    const auto now = steady_clock::now();
    if (now >= end) return 0;
    std::this_thread::sleep_for(std::min<steady_clock::duration>(end - now, milliseconds(2)));
  }
}

}  // namespace

Result<Rule> parse(std::string_view spec) {
  Rule r;
  int actions = 0;
  size_t i = 0;
  while (i < spec.size()) {
    while (i < spec.size() && (spec[i] == ' ' || spec[i] == '\t' || spec[i] == ',')) ++i;
    if (i == spec.size()) break;
    size_t j = i;
    while (j < spec.size() && spec[j] != ' ' && spec[j] != '\t' && spec[j] != ',') ++j;
    std::string_view tok = spec.substr(i, j - i);
    i = j;
    size_t eq = tok.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == tok.size()) return err(-EINVAL);
    std::string_view key = tok.substr(0, eq), val = tok.substr(eq + 1);
    if (key == "op") {
      r.op = val == "*" ? "" : std::string(val);
    } else if (key == "lock") {
      r.lock = std::string(val);
    } else if (key == "ino") {
      uint64_t n = 0;
      if (!parse_uint(val, n)) return err(-EINVAL);
      r.ino = n;
    } else if (key == "mode") {
      if (val == "shared" || val == "read") {
        r.mode = Mode::kShared;
      } else if (val == "exclusive" || val == "write") {
        r.mode = Mode::kExclusive;
      } else {
        return err(-EINVAL);
      }
    } else if (key == "delay" || key == "hold") {
      if (!parse_duration(val, r.duration_us)) return err(-EINVAL);
      r.action = key == "delay" ? Action::kDelay : Action::kHold;
      ++actions;
    } else if (key == "fail") {
      if (!parse_errno(val, r.error)) return err(-EINVAL);
      r.action = Action::kFail;
      ++actions;
    } else if (key == "prob") {
      double p = 0;
      auto [ptr, ec] = std::from_chars(val.data(), val.data() + val.size(), p);
      if (ec != std::errc() || ptr != val.data() + val.size()) return err(-EINVAL);
      r.prob = p;
    } else if (key == "count") {
      if (!parse_uint(val, r.count) || r.count == 0) return err(-EINVAL);
    } else if (key == "seed") {
      uint64_t s = 0;
      if (!parse_uint(val, s)) return err(-EINVAL);
      r.seed = s;
    } else {
      return err(-EINVAL);
    }
  }
  if (actions != 1) return err(-EINVAL);
  LOCKFS_TRY(validate(r));
  return r;
}

std::string format(const Rule& r) {
  std::string s;
  auto add = [&s](const std::string& kv) {
    if (!s.empty()) s += ' ';
    s += kv;
  };
  if (!r.op.empty()) add("op=" + r.op);
  if (!r.lock.empty()) add("lock=" + r.lock);
  if (r.ino) add("ino=" + std::to_string(*r.ino));
  if (r.mode) add(std::string("mode=") + (*r.mode == Mode::kShared ? "shared" : "exclusive"));
  switch (r.action) {
    case Action::kDelay: add("delay=" + format_duration(r.duration_us)); break;
    case Action::kHold: add("hold=" + format_duration(r.duration_us)); break;
    case Action::kFail: {
      const char* n = errno_name(r.error);
      add("fail=" + (n ? std::string(n) : std::to_string(r.error)));
      break;
    }
  }
  if (r.prob != 1.0) {
    char buf[32];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, r.prob);
    add("prob=" + std::string(buf, ec == std::errc() ? p : buf));
  }
  if (r.count) add("count=" + std::to_string(r.count));
  if (r.seed) add("seed=" + std::to_string(*r.seed));
  return s;
}

Result<uint64_t> add(Rule rule) {
  LOCKFS_TRY(validate(rule));
  uint64_t seed = rule.seed.value_or(0);
  if (!rule.seed) {
    std::random_device rd;
    seed = (uint64_t{rd()} << 32) | rd();
  }
  std::lock_guard lk(g_mu);
  uint64_t id = g_next_id++;
  g_rules.push_back(Installed{id, std::move(rule), seed, 0});
  publish_rule_count(g_rules.size());
  return id;
}

Result<void> remove(uint64_t id) {
  std::lock_guard lk(g_mu);
  for (auto it = g_rules.begin(); it != g_rules.end(); ++it) {
    if (it->id == id) {
      g_rules.erase(it);
      publish_rule_count(g_rules.size());
      return ok();
    }
  }
  return err(-ENOENT);
}

void clear() {
  std::lock_guard lk(g_mu);
  g_rules.clear();
  publish_rule_count(0);
}

std::vector<std::string> list() {
  std::lock_guard lk(g_mu);
  std::vector<std::string> out;
  out.reserve(g_rules.size());
  for (const auto& in : g_rules) {
    std::string line = std::to_string(in.id) + ": " + format(in.rule) +
                       " fired=" + std::to_string(in.fired);
    if (in.rule.count) line += " remaining=" + std::to_string(in.rule.count - in.fired);
    out.push_back(std::move(line));
  }
  return out;
}

namespace internal {

int on_op_begin_slow(const char* op, uint64_t ino) {
  uint64_t delay_us = 0;
  int fail = 0;
  {
    std::lock_guard lk(g_mu);
    for (auto& in : g_rules) {
      const Rule& r = in.rule;
      if (r.action == Action::kHold || !op_matches(r, op)) continue;
      if (r.ino && (ino == 0 || *r.ino != ino)) continue;
      // A fail rule that cannot win (an earlier one fired) must not spend its count.
      if (r.action == Action::kFail && fail != 0) continue;
      if (!fires(in)) continue;
      if (r.action == Action::kDelay) {
        delay_us += r.duration_us;
      } else {
        fail = -r.error;
      }
    }
  }
  if (delay_us != 0) {
    int rc = sleep_killable(delay_us);
    if (rc != 0) return rc;
  }
  return fail;
}

void on_acquired_slow(const LockMap& m, Mode mode) {
  uint64_t hold_us = 0;
  {
    const char* op = current().op;
    std::lock_guard lk(g_mu);
    for (auto& in : g_rules) {
      const Rule& r = in.rule;
      if (r.action != Action::kHold || !op_matches(r, op)) continue;
      if (m.cls == nullptr || !class_matches(r.lock, m.cls->name())) continue;
      if (r.ino && *r.ino != m.object) continue;
      if (r.mode && *r.mode != mode) continue;
      if (fires(in)) hold_us += r.duration_us;
    }
  }
  // The caller keeps the lock either way; a kill only shortens the hold.
  if (hold_us != 0) (void)sleep_killable(hold_us);
}

}  // namespace internal

}  // namespace lockfs::locking::inject
