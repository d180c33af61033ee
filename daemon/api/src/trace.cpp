#include "syslens/api/trace.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <ctime>
#include <deque>
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

class TraceHub::Session final : public HttpStream, public std::enable_shared_from_this<Session> {
 public:
  Session(TraceHub& hub, std::chrono::milliseconds duration)
      : hub_(hub), timer_(hub.io_), duration_(duration), offset_(mono_to_unix_offset()) {}

  void begin(const json& header) {
    lost_base_ = hub_.probes_.counter(SYSLENS_CNT_TRACE_EVENT_LOST);
    push(header.dump());
    deadline_ = std::chrono::steady_clock::now() + duration_;
    tick();
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

  void cancel() override { end(false); }

  void end(bool say_why) {
    if (done_) return;
    report_lost();
    if (say_why) push(json{{"end", "duration reached"}}.dump());
    done_ = true;
    timer_.cancel();
    hub_.probes_.stop_trace();
    if (hub_.current_.get() == this) hub_.current_.reset();
    flush();
  }

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
      if (std::chrono::steady_clock::now() >= self->deadline_) return self->end(true);
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
  ProcessWindow(TraceHub& hub, std::string key, std::chrono::milliseconds window, std::size_t limit)
      : hub_(hub), key_(std::move(key)), window_(window), limit_(limit), timer_(hub.io_) {}

  void begin(const std::vector<std::uint64_t>& ids) {
    full_base_ = hub_.probes_.counter(SYSLENS_CNT_PROC_MAP_FULL);
    hub_.probes_.start_processes(ids);
    timer_.expires_after(window_);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->finish();
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
    hub_.probes_.stop_processes();
    done_ = true;
    if (hub_.window_.get() == this) hub_.window_.reset();
  }

 private:
  void finish() {
    auto counts = hub_.probes_.stop_processes();
    const auto missed = hub_.probes_.counter(SYSLENS_CNT_PROC_MAP_FULL) - full_base_;
    std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.calls > b.calls; });
    json procs = json::array();
    std::uint64_t total = 0;
    for (const auto& c : counts) total += c.calls;
    for (std::size_t i = 0; i < counts.size() && i < limit_; ++i) {
      procs.push_back({{"pid", counts[i].pid}, {"comm", counts[i].comm}, {"calls", counts[i].calls}});
    }
    result_ = json{{"workload", key_},   {"window_seconds", static_cast<double>(window_.count()) / 1000},
                   {"calls", total},     {"processes_seen", counts.size()},
                   {"processes", procs}, {"calls_not_attributed", missed}}
                  .dump(2) +
              "\n";
    done_ = true;
    if (hub_.window_.get() == this) hub_.window_.reset();
    if (pending_) {
      auto p = std::move(pending_);
      pending_ = nullptr;
      next(std::move(p));
    }
  }

  TraceHub& hub_;
  std::string key_;
  std::chrono::milliseconds window_;
  std::size_t limit_;
  boost::asio::steady_timer timer_;
  std::function<void(std::string, bool)> pending_;
  std::string result_;
  bool done_ = false;
  std::uint64_t full_base_ = 0;
};

std::vector<std::uint64_t> TraceHub::ids_of(const WorkloadRecord& w) {
  std::vector<std::uint64_t> ids;
  for (const auto& path : w.cgroups) {
    if (auto id = id_of_(path)) ids.push_back(*id);
  }
  return ids;
}

HttpResponse TraceHub::processes(const WorkloadRecord& w, const std::string& target) {
  if (window_) return json_response(409, {{"error", "a processes window is already open; one at a time"}});
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
  window_ = std::make_shared<ProcessWindow>(*this, w.key, win, lim);
  window_->begin(ids);
  return HttpResponse(200, "application/json", {}, window_);
}

TraceHub::TraceHub(boost::asio::io_context& io, LiveWindows& probes, Arch arch, IdOf id_of)
    : io_(io), probes_(probes), arch_(arch), id_of_(std::move(id_of)), events_(io) {
  if (probes_.trace_fd() >= 0) events_.assign(::dup(probes_.trace_fd()));
  watch();
}

TraceHub::~TraceHub() { stop(); }

void TraceHub::stop() {
  if (current_) current_->end(false);
  if (window_) window_->cancel();
  boost::system::error_code ec;
  events_.close(ec);
}

void TraceHub::watch() {
  if (!events_.is_open()) return;
  events_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (ec) return;
    probes_.consume_trace([this](const syslens_trace_event& e) {
      if (current_) current_->event(e);
    });
    watch();
  });
}

HttpResponse TraceHub::start(const WorkloadRecord& w, const std::string& target) {
  if (probes_.mode() != Mode::full) {
    return json_response(409, {{"error", "live traces need mode: full (they are made at syscall exit)"}});
  }
  if (!events_.is_open()) return json_response(503, {{"error", "the trace ring buffer is not available"}});
  if (current_) return json_response(409, {{"error", "a live trace is already running; one at a time"}});
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
  current_ = std::make_shared<Session>(*this, dur);
  probes_.start_trace(ids, f);
  current_->begin({{"trace",
                    {{"workload", w.key},
                     {"cgroups", w.cgroups},
                     {"filters", filters},
                     {"duration_seconds", static_cast<double>(dur.count()) / 1000}}}});
  return HttpResponse(200, "application/x-ndjson", {}, current_);
}

}  // namespace syslens
