// lockfs-stress's engine: seeded random operations from many threads.
#include "core/stress.h"

#include <fmt/format.h>

#include <string.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "core/vfs.h"
#include "locking/task.h"
#include "locking/tracer.h"
#include "locking/validator.h"

namespace lockfs::core {

namespace {

// Errnos an operation of the random workload may legitimately get: names race with other
// threads, renames hit loops and non-empty targets, a full filesystem says ENOSPC.
bool expected_errno(int e) {
  switch (-e) {
    case ENOENT: case EEXIST: case ENOTEMPTY: case EINVAL: case EISDIR: case ENOTDIR:
    case EBUSY: case ENOSPC: case EMLINK:
      return true;
    default:
      return false;
  }
}

struct Shared {
  Vfs* vfs;
  const StressOptions* opts;
  std::vector<Ino> dirs;  // candidate parents (grows with mkdir; stale entries are fine)
  std::mutex mu;
  std::mutex result_mu;
  StressResult* result;
  std::atomic<uint64_t> ops{0};
};

class Worker {
 public:
  Worker(Shared& s, int id, Ino private_dir)
      : s_(s), rng_(s.opts->seed * 7919 + id), id_(id), private_dir_(private_dir) {}

  void run(uint64_t n) {
    locking::Task task(1000 + id_, 0, 0, "stress");
    locking::TaskScope scope(task);
    for (uint64_t i = 0; i < n; ++i) {
      if (rng_() % 10 == 0) {
        private_op();
      } else {
        one();
      }
    }
    check_private_dir();
    std::lock_guard lk(s_.result_mu);
    for (auto& [k, v] : kinds_) s_.result->ops_by_kind[k] += v;
    for (auto& [k, v] : errnos_) s_.result->errnos[k] += v;
  }

 private:
  // --- the private directory and its model: name -> 'f' (file) or 'd' (empty directory),
  // with the inode number (hard links share one). Nobody else touches the directory, so
  // every result is determined by the model.
  void model_mismatch(std::string what) {
    std::lock_guard lk(s_.result_mu);
    ++s_.result->model_mismatches;
    if (s_.result->model_errors.size() < 10) s_.result->model_errors.push_back(std::move(what));
  }
  template <typename R>
  void expect(const char* op, const std::string& name, const R& r, int want) {
    ++model_ops_;
    s_.ops.fetch_add(1, std::memory_order_relaxed);
    const int got = r.ok() ? 0 : r.error();
    if (got != want) {
      model_mismatch(fmt::format("worker {} {} {}: got {} want {}", id_, op, name, -got, -want));
    }
  }
  char kind_of(const std::string& n) const {
    auto it = model_.find(n);
    return it == model_.end() ? 0 : it->second.first;
  }
  Ino ino_of(const std::string& n) const {
    auto it = model_.find(n);
    return it == model_.end() ? 0 : it->second.second;
  }

  void private_op() {
    Vfs& v = *s_.vfs;
    const Ino d = private_dir_;
    const std::string a = "p" + std::to_string(rng_() % 8);
    const char ka = kind_of(a);
    switch (rng_() % 6) {
      case 0: {  // create
        auto c = v.create(d, a, 0644, O_CREAT | O_EXCL | O_RDWR);
        expect("create", a, c, ka ? -EEXIST : 0);
        if (c.ok()) {
          v.forget(c->entry.ino, 1);
          (void)v.release(c->file);
          model_[a] = {'f', c->entry.ino};
        }
        break;
      }
      case 1: {  // unlink
        auto r = v.unlink(d, a);
        expect("unlink", a, r, !ka ? -ENOENT : ka == 'd' ? -EISDIR : 0);
        if (r.ok()) model_.erase(a);
        break;
      }
      case 2: {  // mkdir
        auto r = v.mkdir(d, a, 0755);
        expect("mkdir", a, r, ka ? -EEXIST : 0);
        if (r.ok()) {
          v.forget(r->ino, 1);
          model_[a] = {'d', r->ino};
        }
        break;
      }
      case 3: {  // rmdir (private subdirectories stay empty)
        auto r = v.rmdir(d, a);
        expect("rmdir", a, r, !ka ? -ENOENT : ka == 'f' ? -ENOTDIR : 0);
        if (r.ok()) model_.erase(a);
        break;
      }
      case 4: {  // rename a -> b (b != a), plain, NOREPLACE or EXCHANGE
        std::string b = "p" + std::to_string(rng_() % 8);
        if (b == a) b = "p" + std::to_string((std::stoi(a.substr(1)) + 1) % 8);
        const char kb = kind_of(b);
        const unsigned pick = rng_() % 3;
        const unsigned flags = pick == 0 ? 0 : pick == 1 ? RENAME_NOREPLACE : RENAME_EXCHANGE;
        int want = 0;
        if (!ka) {
          want = -ENOENT;
        } else if (flags == RENAME_NOREPLACE && kb) {
          want = -EEXIST;
        } else if (flags == RENAME_EXCHANGE && !kb) {
          want = -ENOENT;
        } else if (flags == 0 && kb && ka != kb) {
          want = ka == 'd' ? -ENOTDIR : -EISDIR;
        }
        auto r = v.rename(d, a, d, b, flags);
        expect("rename", a + "->" + b, r, want);
        // Two names of one inode: rename succeeds and does nothing (POSIX).
        if (r.ok() && ino_of(a) != ino_of(b)) {
          if (flags == RENAME_EXCHANGE) {
            std::swap(model_[a], model_[b]);
          } else {
            model_[b] = model_[a];
            model_.erase(a);
          }
        }
        break;
      }
      default: {  // link a file under a second name
        if (ka != 'f') break;
        std::string b = "p" + std::to_string(rng_() % 8);
        if (b == a) break;
        auto e = v.lookup(d, a);
        if (!e.ok()) {
          expect("lookup", a, e, 0);
          break;
        }
        auto r = v.link(e->ino, d, b);
        v.forget(e->ino, 1);
        expect("link", a + "->" + b, r, kind_of(b) ? -EEXIST : 0);
        if (r.ok()) {
          v.forget(r->ino, 1);
          model_[b] = {'f', e->ino};
        }
        break;
      }
    }
  }

  // After the run: the directory holds exactly the model's names, with the model's types.
  void check_private_dir() {
    Vfs& v = *s_.vfs;
    auto f = v.opendir(private_dir_, O_RDONLY);
    if (!f.ok()) return model_mismatch(fmt::format("worker {}: opendir failed", id_));
    std::map<std::string, std::pair<char, Ino>> seen;
    Result<void> r = v.readdir(*f, 0, false,
                               [&](std::string_view n, const struct stat& st, uint64_t) {
                                 if (n != "." && n != "..") {
                                   seen[std::string(n)] = {S_ISDIR(st.st_mode) ? 'd' : 'f',
                                                           st.st_ino};
                                 }
                                 return true;
                               });
    (void)v.releasedir(*f);
    if (!r.ok()) return model_mismatch(fmt::format("worker {}: readdir failed", id_));
    if (seen != model_) {
      std::string have, want;
      for (auto& [n, k] : seen) have += fmt::format(" {}:{}#{}", n, k.first, k.second);
      for (auto& [n, k] : model_) want += fmt::format(" {}:{}#{}", n, k.first, k.second);
      model_mismatch(fmt::format("worker {}: directory{} but model{}", id_, have, want));
    }
    std::lock_guard lk(s_.result_mu);
    s_.result->model_ops += model_ops_;
  }

  Ino dir() {
    std::lock_guard lk(s_.mu);
    // Most operations go to the hot directories (the first entries), the rest anywhere.
    const size_t hot = std::min<size_t>(s_.opts->hot_dirs, s_.dirs.size());
    if (rng_() % 4 != 0) return s_.dirs[rng_() % hot];
    return s_.dirs[rng_() % s_.dirs.size()];
  }
  std::string file_name() { return "f" + std::to_string(rng_() % s_.opts->files_per_dir); }
  std::string tmp_name() { return "t" + std::to_string(rng_() % 16); }
  std::string sub_name() { return "s" + std::to_string(rng_() % 4); }

  template <typename R>
  void note(const char* kind, const R& r) {
    ++kinds_[kind];
    s_.ops.fetch_add(1, std::memory_order_relaxed);
    if (r.ok()) return;
    if (expected_errno(r.error())) {
      ++errnos_[r.error()];
      return;
    }
    std::lock_guard lk(s_.result_mu);
    ++s_.result->unexpected_errors;
    if (s_.result->unexpected.size() < 10) {
      s_.result->unexpected.push_back(fmt::format("{}: errno {}", kind, -r.error()));
    }
  }

  void one() {
    const unsigned p = rng_() % 100;
    Vfs& v = *s_.vfs;
    if (p < 55) {  // lookup: the read side the profiles differ on
      auto r = v.lookup(dir(), rng_() % 4 ? file_name() : sub_name());
      if (r.ok()) v.forget(r->ino, 1);
      note("lookup", r);
    } else if (p < 70) {  // readdir
      auto f = v.opendir(dir(), O_RDONLY);
      if (f.ok()) {
        Result<void> r = v.readdir(*f, 0, false,
                                   [](std::string_view, const struct stat&, uint64_t) { return true; });
        (void)v.releasedir(*f);
        note("readdir", r);
      } else {
        note("readdir", f);
      }
    } else if (p < 75) {
      auto r = v.getattr(dir());
      note("getattr", r);
    } else if (p < 80) {  // create + write, or unlink
      const Ino d = dir();
      if (rng_() % 2) {
        auto c = v.create(d, tmp_name(), 0644, O_CREAT | O_EXCL | O_RDWR);
        if (c.ok()) {
          v.forget(c->entry.ino, 1);
          char buf[256] = {};
          (void)v.write(c->file, 0, std::span<const char>(buf, sizeof buf));
          (void)v.release(c->file);
        }
        note("create", c);
      } else {
        note("unlink", v.unlink(d, tmp_name()));
      }
    } else if (p < 83) {  // mkdir / rmdir
      const Ino d = dir();
      if (rng_() % 2) {
        auto r = v.mkdir(d, sub_name(), 0755);
        if (r.ok()) {
          v.forget(r->ino, 1);
          std::lock_guard lk(s_.mu);
          s_.dirs.push_back(r->ino);
        }
        note("mkdir", r);
      } else {
        note("rmdir", v.rmdir(d, sub_name()));
      }
    } else if (p < 90) {  // rename: same-dir, cross-dir, exchange, directories too
      const Ino a = dir();
      const Ino b = rng_() % 2 ? a : dir();
      const unsigned flags = rng_() % 4 == 0 ? RENAME_EXCHANGE : 0;
      const bool dirs = rng_() % 3 == 0;
      note(flags ? "rename_exchange" : "rename",
           v.rename(a, dirs ? sub_name() : tmp_name(), b, dirs ? sub_name() : tmp_name(), flags));
    } else if (p < 92) {  // link
      auto src = v.lookup(dir(), file_name());
      if (src.ok()) {
        auto r = v.link(src->ino, dir(), tmp_name());
        if (r.ok()) v.forget(r->ino, 1);
        v.forget(src->ino, 1);
        note("link", r);
      } else {
        note("link", src);
      }
    } else if (p < 98) {  // write then read a shared file
      auto e = v.lookup(dir(), file_name());
      if (!e.ok()) return note("write", e);
      auto f = v.open(e->ino, O_RDWR);
      v.forget(e->ino, 1);
      if (!f.ok()) return note("write", f);
      char buf[512];
      std::fill(std::begin(buf), std::end(buf), char('a' + id_));
      const uint64_t off = (rng_() % 16) * 512;
      note("write", v.write(*f, off, std::span<const char>(buf, sizeof buf)));
      note("read", v.read(*f, off, std::span<char>(buf, sizeof buf)));
      (void)v.release(*f);
    } else {  // setattr: chmod or truncate
      auto e = v.lookup(dir(), file_name());
      if (!e.ok()) return note("setattr", e);
      SetAttrIn in;
      if (rng_() % 2) {
        in.valid = kSetMode;
        in.mode = 0600 | (rng_() % 2 ? 044 : 0);
      } else {
        in.valid = kSetSize;
        in.size = (rng_() % 8) * 1024;
      }
      note("setattr", v.setattr(e->ino, in, nullptr));
      v.forget(e->ino, 1);
    }
  }

  Shared& s_;
  std::mt19937_64 rng_;
  int id_;
  Ino private_dir_;
  std::map<std::string, std::pair<char, Ino>> model_;
  uint64_t model_ops_ = 0;
  std::map<std::string, uint64_t> kinds_;
  std::map<int, uint64_t> errnos_;
};

}  // namespace

const ClassStat* StressResult::find(const std::string& cls) const {
  for (const ClassStat& c : classes) {
    if (c.name == cls) return &c;
  }
  return nullptr;
}

Result<StressResult> run_stress(const StressOptions& opts) {
  if (opts.threads < 1 || opts.hot_dirs < 1 || opts.files_per_dir < 1) return err(-EINVAL);
  MountOptions mo;
  mo.size_bytes = 256ull << 20;
  mo.nr_inodes = 1 << 16;
  mo.profile = opts.profile;
  mo.lookup_latency_us = static_cast<uint32_t>(opts.lookup_hold_us);
  auto mounted = Vfs::mount(mo);
  if (!mounted.ok()) return err(mounted.error());
  std::unique_ptr<Vfs> vfs = std::move(mounted.value());

  StressResult result;
  Shared s{vfs.get(), &opts, {}, {}, {}, &result, {}};
  // The tree: hot directories with files and subdirectories, created before measuring.
  for (int d = 0; d < opts.hot_dirs; ++d) {
    auto r = vfs->mkdir(kRootIno, "d" + std::to_string(d), 0755);
    if (!r.ok()) return err(r.error());
    vfs->forget(r->ino, 1);
    s.dirs.push_back(r->ino);
    for (int f = 0; f < opts.files_per_dir; ++f) {
      auto m = vfs->mknod(r->ino, "f" + std::to_string(f), S_IFREG | 0644, 0);
      if (!m.ok()) return err(m.error());
      vfs->forget(m->ino, 1);
    }
  }
  s.dirs.push_back(kRootIno);
  // One private directory per worker, outside the candidate parents: only its worker uses it.
  std::vector<Ino> private_dirs;
  for (int t = 0; t < opts.threads; ++t) {
    auto r = vfs->mkdir(kRootIno, "private" + std::to_string(t), 0755);
    if (!r.ok()) return err(r.error());
    vfs->forget(r->ino, 1);
    private_dirs.push_back(r->ino);
  }

  locking::set_validate_mode(locking::ValidateMode::kStrict);
  std::atomic<uint64_t> violations{0};
  locking::set_strict_handler([&](const locking::Violation&) { ++violations; });
  locking::tracer_enable();
  locking::trace_reset();
  const uint64_t before = locking::violation_count();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < opts.threads; ++t) {
    const uint64_t n = opts.ops / opts.threads + (uint64_t(t) < opts.ops % opts.threads ? 1 : 0);
    threads.emplace_back([&s, &private_dirs, t, n] { Worker(s, t, private_dirs[t]).run(n); });
  }
  for (auto& t : threads) t.join();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.ops_run = s.ops.load();
  for (const locking::LockStat& st : locking::lock_stats()) {
    if (st.acquisitions == 0) continue;
    result.classes.push_back({st.name, st.acquisitions, st.contentions, st.killed,
                              st.wait_total_ns, st.wait_max_ns});
  }
  std::sort(result.classes.begin(), result.classes.end(),
            [](const ClassStat& a, const ClassStat& b) { return a.contentions > b.contentions; });
  locking::tracer_disable();
  result.fsck = check_namespace(vfs->sb());
  vfs.reset();
  result.violations = locking::violation_count() - before;
  locking::set_strict_handler(nullptr);
  return result;
}

void print_stress_report(std::ostream& os, const StressOptions& opts, const StressResult& r) {
  os << fmt::format("lockfs-stress: profile={} threads={} seed={} ops={} in {:.2f}s "
                    "(lookup holds the directory {} us)\n",
                    opts.profile, opts.threads, opts.seed, r.ops_run, r.seconds,
                    opts.lookup_hold_us);
  os << "ops by kind:";
  for (const auto& [k, v] : r.ops_by_kind) os << fmt::format(" {}={}", k, v);
  os << "\nexpected errnos:";
  for (const auto& [e, v] : r.errnos) {
    const char* name = strerrorname_np(-e);
    os << fmt::format(" {}={}", name ? name : std::to_string(-e), v);
  }
  os << fmt::format("\nunexpected errors: {}\n", r.unexpected_errors);
  for (const std::string& u : r.unexpected) os << "  " << u << "\n";
  os << fmt::format("violations: {}\n", r.violations);
  os << "namespace check: " << (r.fsck.ok() ? "ok " : "FAILED ") << r.fsck.summary() << "\n";
  os << fmt::format("model check: {} ({} operations in private directories, {} mismatches)\n",
                    r.model_mismatches == 0 ? "ok" : "FAILED", r.model_ops, r.model_mismatches);
  for (const std::string& m : r.model_errors) os << "  " << m << "\n";
  os << fmt::format("{:<22} {:>12} {:>11} {:>8} {:>12} {:>12}\n", "lock class", "acquisitions",
                    "contentions", "contend%", "wait-total-ms", "wait-max-us");
  for (const ClassStat& c : r.classes) {
    os << fmt::format("{:<22} {:>12} {:>11} {:>7.2f}% {:>13.3f} {:>12.1f}\n", c.name,
                      c.acquisitions, c.contentions,
                      c.acquisitions ? 100.0 * c.contentions / c.acquisitions : 0.0,
                      c.wait_total_ns / 1e6, c.wait_max_ns / 1e3);
  }
  const ClassStat* dir = r.find("i_rwsem(dir)");
  os << fmt::format("i_rwsem(dir) contention [{}]: {} of {} acquisitions ({:.2f}%), waited {:.3f} ms\n",
                    opts.profile, dir ? dir->contentions : 0, dir ? dir->acquisitions : 0,
                    dir && dir->acquisitions ? 100.0 * dir->contentions / dir->acquisitions : 0.0,
                    dir ? dir->wait_total_ns / 1e6 : 0.0);
  os << "result: " << (r.ok() ? "PASS" : "FAIL") << "\n";
}

}  // namespace lockfs::core
