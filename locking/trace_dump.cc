// Trace dumps: text, JSON lines, Chrome trace event JSON, and the lock_stat table.
#include <fmt/format.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "locking/tracer.h"

namespace lockfs::locking {

namespace {

std::string json_escape(const char* s) {
  std::string out;
  if (s == nullptr) return out;
  for (const char* p = s; *p != '\0'; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

const char* class_name(uint16_t id) {
  const LockClass* cls = lock_class_by_id(id);
  return cls != nullptr ? cls->name() : "";
}

// "i_rwsem(dir)/parent" (no suffix for kNormal).
std::string lock_label(const TraceEvent& e) {
  std::string s = class_name(e.class_id);
  if (e.subclass != Subclass::kNormal) {
    s += '/';
    s += subclass_name(e.subclass);
  }
  return s;
}

bool is_op(const TraceEvent& e) {
  return e.type == EventType::kOpBegin || e.type == EventType::kOpEnd;
}

}  // namespace

void dump_text(std::ostream& os, const std::vector<TraceEvent>& events) {
  for (const TraceEvent& e : events) {
    os << fmt::format("{:>16} tid={} pid={} op={} {}", e.ts_ns, e.tid, e.pid,
                      e.op != nullptr && *e.op ? e.op : "-", event_type_name(e.type));
    if (is_op(e)) {
      if (e.type == EventType::kOpEnd) os << " result=" << e.result;
    } else if (e.class_id != 0) {
      os << fmt::format(" {} obj={}:{} mode={} contended={} wait_ns={}", lock_label(e), e.object,
                        e.aux, mode_name(e.mode), e.contended ? 1 : 0, e.wait_ns);
    }
    os << '\n';
  }
}

void dump_jsonl(std::ostream& os, const std::vector<TraceEvent>& events) {
  for (const TraceEvent& e : events) {
    os << fmt::format(
        "{{\"ts_ns\":{},\"tid\":{},\"pid\":{},\"op\":\"{}\",\"event\":\"{}\",\"class\":\"{}\","
        "\"class_id\":{},\"subclass\":\"{}\",\"object\":{},\"aux\":{},\"mode\":\"{}\","
        "\"contended\":{},\"wait_ns\":{},\"result\":{}}}\n",
        e.ts_ns, e.tid, e.pid, json_escape(e.op), event_type_name(e.type),
        json_escape(class_name(e.class_id)), e.class_id, subclass_name(e.subclass), e.object, e.aux,
        mode_name(e.mode), e.contended ? "true" : "false", e.wait_ns, e.result);
  }
}

namespace {

// One open B slice on a track: an op (key = op pointer) or a lock hold (class/object/aux).
struct Open {
  bool op;
  uint16_t class_id;
  uint64_t object, aux;
  const char* op_name;
  std::string name;
  std::string args;
};

class ChromeWriter {
 public:
  explicit ChromeWriter(std::ostream& os) : os_(os), pid_(getpid()) {}

  void event(const std::string& body) {
    os_ << (first_ ? "\n" : ",\n") << '{' << body << '}';
    first_ = false;
  }
  std::string head(const char* ph, double ts_us, uint32_t tid, const std::string& name) {
    return fmt::format("\"ph\":\"{}\",\"ts\":{:.3f},\"pid\":{},\"tid\":{},\"name\":\"{}\"", ph,
                       ts_us, pid_, tid, json_escape(name.c_str()));
  }
  void begin(double ts, uint32_t tid, const Open& o) {
    event(head("B", ts, tid, o.name) + ",\"cat\":\"" + (o.op ? "op" : "lock") + "\",\"args\":{" +
          o.args + "}");
  }
  void end(double ts, uint32_t tid, const Open& o) {
    event(head("E", ts, tid, o.name) + ",\"cat\":\"" + (o.op ? "op" : "lock") + "\"");
  }
  int pid() const { return pid_; }

 private:
  std::ostream& os_;
  int pid_;
  bool first_ = true;
};

double us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

bool matches(const Open& o, const TraceEvent& e) {
  if (is_op(e)) return o.op && o.op_name == e.op;
  return !o.op && o.class_id == e.class_id && o.object == e.object && o.aux == e.aux;
}

}  // namespace

void dump_chrome(std::ostream& os, const std::vector<TraceEvent>& events) {
  ChromeWriter w(os);
  os << "{\"traceEvents\":[";
  std::map<uint32_t, std::vector<Open>> tracks;  // per tid: open B slices, innermost last
  for (const TraceEvent& e : events) {
    if (!tracks.count(e.tid)) {
      tracks[e.tid];
      w.event(
          fmt::format("\"ph\":\"M\",\"ts\":0,\"pid\":{},\"tid\":{},\"name\":\"thread_name\","
                      "\"args\":{{\"name\":\"lockfs thread {}\"}}",
                      w.pid(), e.tid, e.tid));
    }
  }
  const uint64_t last_ts = events.empty() ? 0 : events.back().ts_ns;
  for (const TraceEvent& e : events) {
    std::vector<Open>& open = tracks[e.tid];
    const double ts = us(e.ts_ns);
    const std::string label = lock_label(e);
    const std::string common =
        fmt::format("\"task_pid\":{},\"op\":\"{}\"", e.pid, json_escape(e.op));
    if ((e.type == EventType::kAcquire || e.type == EventType::kKilled) && e.wait_ns != 0) {
      w.event(w.head("X", us(e.ts_ns - e.wait_ns), e.tid, "wait " + label) +
              fmt::format(",\"dur\":{:.3f},\"cat\":\"wait\",\"args\":{{{},\"object\":{},"
                          "\"aux\":{},\"mode\":\"{}\"}}",
                          us(e.wait_ns), common, e.object, e.aux, mode_name(e.mode)));
    }
    switch (e.type) {
      case EventType::kOpBegin:
      case EventType::kAcquire: {
        Open o{e.type == EventType::kOpBegin,
               e.class_id,
               e.object,
               e.aux,
               e.op,
               e.type == EventType::kOpBegin ? std::string(e.op ? e.op : "") : label,
               common};
        if (!o.op) {
          o.args += fmt::format(",\"object\":{},\"aux\":{},\"mode\":\"{}\",\"contended\":{}",
                                e.object, e.aux, mode_name(e.mode), e.contended);
        }
        w.begin(ts, e.tid, o);
        open.push_back(std::move(o));
        break;
      }
      case EventType::kOpEnd:
      case EventType::kRelease: {
        // Find the matching begin; skip an end whose begin the ring dropped. Slices must nest
        // per track, so an out-of-order release closes the slices above it and reopens them.
        int i = static_cast<int>(open.size()) - 1;
        while (i >= 0 && !matches(open[i], e)) --i;
        if (i < 0) break;
        for (int j = static_cast<int>(open.size()) - 1; j > i; --j) w.end(ts, e.tid, open[j]);
        w.end(ts, e.tid, open[i]);
        open.erase(open.begin() + i);
        for (size_t j = static_cast<size_t>(i); j < open.size(); ++j) w.begin(ts, e.tid, open[j]);
        break;
      }
      case EventType::kKilled:
      case EventType::kTryFail:
      case EventType::kViolation: {
        std::string name = std::string(event_type_name(e.type));
        if (e.class_id != 0) name += " " + label;
        w.event(w.head("i", ts, e.tid, name) +
                fmt::format(",\"s\":\"t\",\"cat\":\"{}\",\"args\":{{{},\"result\":{}}}",
                            event_type_name(e.type), common, e.result));
        break;
      }
    }
  }
  for (auto& [tid, open] : tracks) {
    for (auto it = open.rbegin(); it != open.rend(); ++it) w.end(us(last_ts), tid, *it);
  }
  os << "\n],\"displayTimeUnit\":\"ns\"}\n";
}

void dump_lockstat(std::ostream& os) {
  os << fmt::format("{:<28} {:>12} {:>12} {:>8} {:>14} {:>12} {:>14} {:>12}\n", "class",
                    "acquisitions", "contentions", "killed", "wait_total_ns", "wait_max_ns",
                    "hold_total_ns", "hold_max_ns");
  for (const LockStat& s : lock_stats()) {
    os << fmt::format("{:<28} {:>12} {:>12} {:>8} {:>14} {:>12} {:>14} {:>12}\n", s.name,
                      s.acquisitions, s.contentions, s.killed, s.wait_total_ns, s.wait_max_ns,
                      s.hold_total_ns, s.hold_max_ns);
  }
}

}  // namespace lockfs::locking
