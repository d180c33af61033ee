#include "syslens/api/trace.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <ctime>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>

#include "syslens/api/api.h"
#include "syslens/config.h"
#include "syslens/kernel/errno_name.h"
#include "syslens/http_util.h"

namespace syslens {

using nlohmann::json;

namespace {

double mono_to_unix_offset() {
  timespec mono{}, real{};
  ::clock_gettime(CLOCK_MONOTONIC, &mono);
  ::clock_gettime(CLOCK_REALTIME, &real);
  return (static_cast<double>(real.tv_sec) + static_cast<double>(real.tv_nsec) / 1e9) -
         (static_cast<double>(mono.tv_sec) + static_cast<double>(mono.tv_nsec) / 1e9);
}

std::string iso8601_ms(double t) {
  const auto s = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%06ldZ", buf, static_cast<long>((t - static_cast<double>(s)) * 1e6));
  return out;
}

}  // namespace

Admission admit(const std::vector<std::string>& held, const Caller& caller, std::size_t cap) {
  if (std::find(held.begin(), held.end(), caller.identity) != held.end()) return {Admission::Verdict::own};
  if (held.size() < cap) return {Admission::Verdict::open};
  if (caller.authorized()) {
    const auto anon = std::find(held.begin(), held.end(), std::string());
    if (anon != held.end()) return {Admission::Verdict::preempt, static_cast<std::size_t>(anon - held.begin())};
  }
  return {Admission::Verdict::cap};
}

syslens_trace_filter loosest(const std::vector<syslens_trace_filter>& filters) {
  if (filters.empty()) return {};
  syslens_trace_filter out = filters.front();
  for (const auto& f : filters) {
    if (f.nr_plus_one != out.nr_plus_one) out.nr_plus_one = 0;
    out.failed_only = out.failed_only && f.failed_only;
    out.denied_only = out.denied_only && f.denied_only;
    out.min_latency_ns = std::min(out.min_latency_ns, f.min_latency_ns);
  }
  return out;
}

bool passes(const syslens_trace_filter& f, const syslens_trace_event& e) {
  const long ret = static_cast<long>(e.ret);
  if (f.nr_plus_one && f.nr_plus_one != e.nr + 1) return false;
  if (f.failed_only && !(ret < 0 && ret >= -4095)) return false;
  if (f.denied_only && !(e.flags & SYSLENS_TRACE_DENIED)) return false;
  return e.latency_ns >= f.min_latency_ns;
}

const char* to_string(LiveKind k) { return k == LiveKind::trace ? "trace" : "processes"; }

class TraceHub::Session final : public HttpStream, public std::enable_shared_from_this<Session> {
 public:
  Session(TraceHub& hub, std::chrono::milliseconds duration, const Caller& caller, std::string workload,
          std::vector<std::uint64_t> cgroup_ids, const syslens_trace_filter& f)
      : identity(caller.identity),
        who(caller.who()),
        key(std::move(workload)),
        ids(std::move(cgroup_ids)),
        filter(f),
        hub_(hub),
        timer_(hub.io_),
        duration_(duration),
        offset_(mono_to_unix_offset()) {}

  void begin(const json& header) {
    lost_base_ = hub_.probes_.counter(SYSLENS_CNT_TRACE_EVENT_LOST);
    push(header.dump());
    deadline_ = std::chrono::steady_clock::now() + duration_;
    tick();
  }

  bool wants(const syslens_trace_event& e) const {
    return !done_ && std::find(ids.begin(), ids.end(), e.cgroup_id) != ids.end() && passes(filter, e);
  }

  void event(const syslens_trace_event& e) {
    if (done_) return;
    const long ret = static_cast<long>(e.ret);
    const bool failed = ret < 0 && ret >= -4095;
    json j = {{"time", iso8601_ms(static_cast<double>(e.ts_ns) / 1e9 + offset_)},
              {"pid", e.pid},
              {"tid", e.tid},
              {"comm", std::string(e.comm, strnlen(e.comm, sizeof(e.comm)))},
              {"syscall", syscall_label(hub_.arch_, e.nr, e.abi == SYSLENS_ABI_COMPAT)},
              {"ret", failed ? -1 : ret},
              {"errno", failed ? json(errno_name(static_cast<int>(-ret))) : json(nullptr)},
              {"latency_seconds", static_cast<double>(e.latency_ns) / 1e9}};
    if (e.flags & SYSLENS_TRACE_DENIED) j["seccomp_denied"] = true;
    push(j.dump(-1, ' ', false, json::error_handler_t::replace));
  }

  void next(std::function<void(std::string, bool)> deliver) override {
    if (!lines_.empty() || done_) {
      std::string out;
      for (auto& l : lines_) {
        out += l;
        out += '\n';
      }
      lines_.clear();
      boost::asio::post(hub_.io_, [deliver = std::move(deliver), out = std::move(out), d = done_]() mutable {
        deliver(std::move(out), d);
      });
      return;
    }
    pending_ = std::move(deliver);
  }

  void cancel() override { end("the client went away", false); }

  // Ends the trace; `say` puts the reason on the stream as {"end": why}.
  void end(const std::string& why, bool say) {
    if (done_) return;
    report_lost();
    if (say) push(json{{"end", why}}.dump());
    done_ = true;
    timer_.cancel();
    auto& open = hub_.traces_;
    auto self = shared_from_this();
    open.erase(std::remove(open.begin(), open.end(), self), open.end());
    hub_.retrace();
    hub_.closed(LiveKind::trace, key, who, why);
    flush();
  }

  const std::string identity, who, key;
  const std::vector<std::uint64_t> ids;
  const syslens_trace_filter filter;

 private:
  void push(std::string line) {
    if (lines_.size() >= 100000) {  // the client is not reading: drop, and say so
      ++dropped_;
      return;
    }
    lines_.push_back(std::move(line));
    flush();
  }

  void flush() {
    if (!pending_) return;
    auto p = std::move(pending_);
    pending_ = nullptr;
    next(std::move(p));
  }

  // Events the shared kernel feed lost while this trace ran (they may have
  // been another trace's), and lines this client did not read in time.
  void report_lost() {
    const auto lost = hub_.probes_.counter(SYSLENS_CNT_TRACE_EVENT_LOST) - lost_base_ + dropped_;
    if (lost > reported_lost_) {
      lines_.push_back(json{{"lost", lost - reported_lost_}}.dump());
      reported_lost_ = lost;
    }
  }

  // Once a second: report lost events; end at the deadline.
  void tick() {
    timer_.expires_after(std::chrono::seconds(1));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->done_) return;
      if (std::chrono::steady_clock::now() >= self->deadline_) return self->end("duration reached", true);
      self->report_lost();
      self->flush();
      self->tick();
    });
  }

  TraceHub& hub_;
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds duration_;
  std::chrono::steady_clock::time_point deadline_;
  double offset_;
  std::deque<std::string> lines_;
  std::function<void(std::string, bool)> pending_;
  bool done_ = false;
  std::uint64_t lost_base_ = 0, reported_lost_ = 0, dropped_ = 0;
};

class TraceHub::ProcessWindow final : public HttpStream, public std::enable_shared_from_this<ProcessWindow> {
 public:
  ProcessWindow(TraceHub& hub, const Caller& caller, std::string workload, std::vector<std::uint64_t> cgroup_ids,
                std::chrono::milliseconds window, std::size_t limit)
      : identity(caller.identity),
        who(caller.who()),
        key(std::move(workload)),
        ids(std::move(cgroup_ids)),
        hub_(hub),
        window_(window),
        limit_(limit),
        timer_(hub.io_) {}

  // After the kernel counts this window's cgroups: what was counted before
  // is the base.
  void begin() {
    full_base_ = hub_.probes_.counter(SYSLENS_CNT_PROC_MAP_FULL);
    for (const auto& c : hub_.probes_.read_processes()) base_[c.pid] = c.calls;
    timer_.expires_after(window_);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->finish("");
    });
  }

  void next(std::function<void(std::string, bool)> deliver) override {
    if (done_) {
      boost::asio::post(hub_.io_, [deliver = std::move(deliver), out = std::move(result_)]() mutable {
        deliver(std::move(out), true);
      });
      return;
    }
    pending_ = std::move(deliver);
  }

  void cancel() override {
    if (done_) return;
    timer_.cancel();
    done_ = true;
    leave("the client went away");
  }

  // Answers with what was counted so far; a non-empty `early` says why the
  // window closed before its time.
  void finish(const std::string& early) {
    if (done_) return;
    timer_.cancel();
    const auto now = hub_.probes_.read_processes();
    const auto missed = hub_.probes_.counter(SYSLENS_CNT_PROC_MAP_FULL) - full_base_;
    std::vector<LiveWindows::ProcessCount> counts;
    for (const auto& c : now) {
      if (std::find(ids.begin(), ids.end(), c.cgroup_id) == ids.end()) continue;
      const auto b = base_.find(c.pid);
      const std::uint64_t calls = c.calls - (b == base_.end() ? 0 : b->second);
      if (calls) counts.push_back({c.pid, c.cgroup_id, calls, c.comm});
    }
    std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.calls > b.calls; });
    json procs = json::array();
    std::uint64_t total = 0;
    for (const auto& c : counts) total += c.calls;
    for (std::size_t i = 0; i < counts.size() && i < limit_; ++i) {
      procs.push_back({{"pid", counts[i].pid}, {"comm", counts[i].comm}, {"calls", counts[i].calls}});
    }
    json out = {{"workload", key},    {"window_seconds", static_cast<double>(window_.count()) / 1000},
                {"calls", total},     {"processes_seen", counts.size()},
                {"processes", procs}, {"calls_not_attributed", missed}};
    if (!early.empty()) out["ended_early"] = early;
    result_ = out.dump(2) + "\n";
    done_ = true;
    leave(early.empty() ? "window closed" : early);
    if (pending_) {
      auto p = std::move(pending_);
      pending_ = nullptr;
      next(std::move(p));
    }
  }

  const std::string identity, who, key;
  const std::vector<std::uint64_t> ids;

 private:
  void leave(const std::string& why) {
    auto& open = hub_.windows_;
    auto self = shared_from_this();
    open.erase(std::remove(open.begin(), open.end(), self), open.end());
    hub_.recount();
    hub_.closed(LiveKind::processes, key, who, why);
  }

  TraceHub& hub_;
  std::chrono::milliseconds window_;
  std::size_t limit_;
  boost::asio::steady_timer timer_;
  std::function<void(std::string, bool)> pending_;
  std::string result_;
  bool done_ = false;
  std::uint64_t full_base_ = 0;
  std::map<std::uint32_t, std::uint64_t> base_;  // pid -> calls counted before the window
};

std::vector<std::uint64_t> TraceHub::ids_of(const WorkloadRecord& w) {
  std::vector<std::uint64_t> ids;
  for (const auto& path : w.cgroups) {
    if (auto id = id_of_(path)) ids.push_back(*id);
  }
  return ids;
}

void TraceHub::closed(LiveKind kind, const std::string& what, const std::string& who, const std::string& why) {
  ++stats_[static_cast<int>(kind)].closed;
  spdlog::info("live {} of {} by {} closed: {}", to_string(kind), what, who, why);
}

template <class Window>
std::optional<HttpResponse> TraceHub::make_room(std::vector<std::shared_ptr<Window>>& open, LiveKind kind,
                                                const WorkloadRecord& w, const Caller& caller) {
  std::vector<std::string> held;
  held.reserve(open.size());
  for (const auto& o : open) held.push_back(o->identity);
  const auto a = admit(held, caller, kLiveCap);
  auto& s = stats_[static_cast<int>(kind)];
  std::string refusal;
  unsigned status = 409;
  if (a.verdict == Admission::Verdict::own) {
    const auto mine = std::find(held.begin(), held.end(), caller.identity) - held.begin();
    refusal = caller.authorized() ? "you (" + caller.identity + ") already have a live " + to_string(kind) +
                                        " open (of " + open[static_cast<std::size_t>(mine)]->key + "): one per caller"
                                  : std::string("anonymous callers share one live ") + to_string(kind) +
                                        " and it is open; use the API socket (the syslens CLI does) or "
                                        "authenticate to have your own";
  } else if (a.verdict == Admission::Verdict::cap) {
    status = 429;
    refusal = std::to_string(kLiveCap) + " live " + to_string(kind) + "s are open, the most at once; try again when " +
              "one ends";
  }
  if (!refusal.empty()) {
    ++s.refused;
    spdlog::warn("live {} of {} refused to {}: {}", to_string(kind), w.key, caller.who(), refusal);
    return json_response(status, {{"error", refusal}});
  }
  if (a.verdict == Admission::Verdict::preempt) {
    ++s.preempted;
    const std::string why = "preempted: an authorized caller (" + caller.identity + ") needed the slot";
    if constexpr (std::is_same_v<Window, Session>) {
      open[a.preempt]->end(why, true);
    } else {
      open[a.preempt]->finish(why);
    }
  }
  return std::nullopt;
}

namespace {
// Every cgroup of these open windows, once each.
template <class Window>
std::vector<std::uint64_t> cgroups_of(const std::vector<std::shared_ptr<Window>>& open) {
  std::vector<std::uint64_t> ids;
  for (const auto& w : open) ids.insert(ids.end(), w->ids.begin(), w->ids.end());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}
}  // namespace

void TraceHub::retrace() {
  std::vector<syslens_trace_filter> filters;
  filters.reserve(traces_.size());
  for (const auto& t : traces_) filters.push_back(t->filter);
  probes_.set_trace(cgroups_of(traces_), loosest(filters));
}

void TraceHub::recount() { probes_.set_processes(cgroups_of(windows_)); }

HttpResponse TraceHub::processes(const WorkloadRecord& w, const std::string& target, const Caller& caller) {
  auto window = query_param(target, "window");
  auto limit = query_param(target, "limit");
  if (!window || !limit) return json_response(400, {{"error", "malformed query string"}});
  std::chrono::milliseconds win{2000};
  std::size_t lim = 20;
  try {
    if (!window->empty()) win = parse_duration(*window);
    if (!limit->empty()) lim = std::stoul(*limit);
  } catch (const std::exception&) {
    return json_response(400, {{"error", "window is a duration like 2s, limit a number"}});
  }
  if (win.count() < 10 || win > std::chrono::seconds(30) || lim < 1 || lim > 1000) {
    return json_response(400, {{"error", "window must be 10ms to 30s, limit 1 to 1000"}});
  }
  auto ids = ids_of(w);
  if (ids.empty()) return json_response(410, {{"error", "the workload's cgroups no longer exist"}});
  if (auto refused = make_room(windows_, LiveKind::processes, w, caller)) return *refused;
  auto window_ptr = std::make_shared<ProcessWindow>(*this, caller, w.key, std::move(ids), win, lim);
  windows_.push_back(window_ptr);
  recount();
  window_ptr->begin();
  ++stats_[static_cast<int>(LiveKind::processes)].opened;
  spdlog::info("live processes of {} opened by {} for {} ms", w.key, caller.who(), win.count());
  return HttpResponse(200, "application/json", {}, window_ptr);
}

TraceHub::TraceHub(boost::asio::io_context& io, LiveWindows& probes, Arch arch, IdOf id_of)
    : io_(io), probes_(probes), arch_(arch), id_of_(std::move(id_of)), events_(io) {
  if (probes_.trace_fd() >= 0) events_.assign(::dup(probes_.trace_fd()));
  watch();
}

TraceHub::~TraceHub() { stop(); }

void TraceHub::stop() {
  for (auto open = traces_; auto& t : open) t->end("syslensd stops", true);
  for (auto open = windows_; auto& w : open) w->finish("syslensd stops");
  boost::system::error_code ec;
  events_.close(ec);
}

void TraceHub::watch() {
  if (!events_.is_open()) return;
  events_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec) return;
    // Handing over an event never ends a trace, so traces_ holds still.
    probes_.consume_trace([this](const syslens_trace_event& e) {
      for (const auto& t : traces_) {
        if (t->wants(e)) t->event(e);
      }
    });
    watch();
  });
}

HttpResponse TraceHub::start(const WorkloadRecord& w, const std::string& target, const Caller& caller) {
  if (probes_.mode() != Mode::full) {
    return json_response(409, {{"error", "live traces need mode: full (they are made at syscall exit)"}});
  }
  if (!events_.is_open()) return json_response(503, {{"error", "the trace ring buffer is not available"}});
  syslens_trace_filter f{};
  json filters = json::object();
  auto syscall = query_param(target, "syscall");
  auto failed = query_param(target, "failed");
  auto denied = query_param(target, "denied");
  auto slower = query_param(target, "slower_than");
  auto duration = query_param(target, "duration");
  if (!syscall || !failed || !denied || !slower || !duration) {
    return json_response(400, {{"error", "malformed query string"}});
  }
  if (!syscall->empty()) {
    auto nr = syscall_number(arch_ == Arch::x86_64 ? Abi::x86_64 : Abi::arm64, *syscall);
    if (!nr) return json_response(400, {{"error", "unknown syscall '" + *syscall + "'"}});
    f.nr_plus_one = static_cast<__u32>(*nr + 1);
    filters["syscall"] = *syscall;
  }
  if (*failed == "true") {
    f.failed_only = 1;
    filters["failed"] = true;
  } else if (!failed->empty() && *failed != "false") {
    return json_response(400, {{"error", "failed must be true or false"}});
  }
  if (*denied == "true") {
    f.denied_only = 1;
    filters["denied"] = true;
  } else if (!denied->empty() && *denied != "false") {
    return json_response(400, {{"error", "denied must be true or false"}});
  }
  std::chrono::milliseconds dur{60000};
  try {
    if (!slower->empty()) {
      f.min_latency_ns = static_cast<__u64>(parse_duration(*slower).count()) * 1000000ULL;
      filters["slower_than"] = *slower;
    }
    if (!duration->empty()) dur = parse_duration(*duration);
  } catch (const std::exception& e) {
    return json_response(400,
                         {{"error", std::string("slower_than and duration are durations like 5ms, 30s: ") + e.what()}});
  }
  if (dur.count() <= 0 || dur > std::chrono::hours(1)) {
    return json_response(400, {{"error", "duration must be between 1ms and 1h"}});
  }
  auto ids = ids_of(w);
  if (ids.empty()) return json_response(410, {{"error", "the workload's cgroups no longer exist"}});
  if (auto refused = make_room(traces_, LiveKind::trace, w, caller)) return *refused;
  auto session = std::make_shared<Session>(*this, dur, caller, w.key, std::move(ids), f);
  traces_.push_back(session);
  retrace();
  session->begin({{"trace",
                   {{"workload", w.key},
                    {"cgroups", w.cgroups},
                    {"filters", filters},
                    {"duration_seconds", static_cast<double>(dur.count()) / 1000}}}});
  ++stats_[static_cast<int>(LiveKind::trace)].opened;
  spdlog::info("live trace of {} opened by {} for {} ms{}", w.key, caller.who(), dur.count(),
               filters.empty() ? "" : " with filters " + filters.dump());
  return HttpResponse(200, "application/x-ndjson", {}, session);
}

}  // namespace syslens
