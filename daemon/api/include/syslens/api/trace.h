// GET /api/v1/workloads/{ref}/trace: a live NDJSON stream of one workload's
// syscalls; GET .../processes: calls per process of a workload over a
// window. Each belongs to the caller that opened it: at most one of each
// kind per caller identity (anonymous callers share one), at most
// kLiveCap in all, and an authorized caller at the cap takes the anonymous
// one's place. One kernel feed serves every open trace: the union of their
// cgroups and the loosest of their filters, each trace filtering its own.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "syslens/http/response.h"
#include "syslens/kernel/live.h"
#include "syslens/workloads/store.h"

namespace syslens {

// Live windows of each kind open at once, over all callers.
constexpr std::size_t kLiveCap = 4;

// Whether a caller may open a window, given the identities holding the
// open ones ("" for anonymous), oldest first.
struct Admission {
  enum class Verdict { open, preempt, own, cap } verdict = Verdict::open;
  std::size_t preempt = 0;  // with Verdict::preempt: the index of the window to end
};
Admission admit(const std::vector<std::string>& held, const Caller& caller, std::size_t cap);

// The kernel-side filter that lets through every event any of these would
// keep (the trace feed is shared); each trace then applies its own.
syslens_trace_filter loosest(const std::vector<syslens_trace_filter>& filters);
bool passes(const syslens_trace_filter& f, const syslens_trace_event& e);

enum class LiveKind { trace, processes };
const char* to_string(LiveKind k);

// Opened, closed (ended, cancelled or preempted), refused, and of those
// closed, preempted; open now (from the open windows, in stats()).
struct LiveStats {
  std::uint64_t opened = 0, closed = 0, refused = 0, preempted = 0;
  std::size_t open = 0;
};

class TraceHub {
 public:
  using IdOf = std::function<std::optional<std::uint64_t>(const std::string& cgroup_path)>;
  TraceHub(boost::asio::io_context& io, LiveWindows& probes, Arch arch, IdOf id_of);
  ~TraceHub();
  HttpResponse start(const WorkloadRecord& w, const std::string& target, const Caller& caller = {});
  // GET .../processes: calls per process of the workload over a window
  // (default 2 s, at most 30 s), answered when the window closes.
  HttpResponse processes(const WorkloadRecord& w, const std::string& target, const Caller& caller = {});
  void stop();
  LiveStats stats(LiveKind k) const {
    LiveStats out = stats_[static_cast<int>(k)];
    out.open = k == LiveKind::trace ? traces_.size() : windows_.size();
    return out;
  }

  class Session;
  class ProcessWindow;

 private:
  void watch();
  // The kernel's feeds follow the open windows.
  void retrace();
  void recount();
  // Refuses (409/429, logged, counted) or makes room; nullopt: go ahead.
  template <class Window>
  std::optional<HttpResponse> make_room(std::vector<std::shared_ptr<Window>>& open, LiveKind kind,
                                        const WorkloadRecord& w, const Caller& caller);
  void closed(LiveKind kind, const std::string& what, const std::string& who, const std::string& why);

  boost::asio::io_context& io_;
  LiveWindows& probes_;
  Arch arch_;
  IdOf id_of_;
  boost::asio::posix::stream_descriptor events_;
  std::vector<std::shared_ptr<Session>> traces_;  // oldest first
  std::vector<std::shared_ptr<ProcessWindow>> windows_;
  LiveStats stats_[2];
  std::vector<std::uint64_t> ids_of(const WorkloadRecord& w);
};

}  // namespace syslens
