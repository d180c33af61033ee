// GET /api/v1/workloads/{ref}/trace: a live NDJSON stream of one workload's
// syscalls. The kernel feeds its ring buffer only while a trace runs and
// only for that workload's cgroups; one trace at a time.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "syslens/http/response.h"
#include "syslens/kernel/live.h"
#include "syslens/workloads/store.h"

namespace syslens {

class TraceHub {
 public:
  using IdOf = std::function<std::optional<std::uint64_t>(const std::string& cgroup_path)>;
  TraceHub(boost::asio::io_context& io, LiveWindows& probes, Arch arch, IdOf id_of);
  ~TraceHub();
  HttpResponse start(const WorkloadRecord& w, const std::string& target);
  // GET .../processes: calls per process of the workload over a window
  // (default 2 s, at most 30 s), answered when the window closes.
  HttpResponse processes(const WorkloadRecord& w, const std::string& target);
  void stop();

  class Session;
  class ProcessWindow;

 private:
  void watch();

  boost::asio::io_context& io_;
  LiveWindows& probes_;
  Arch arch_;
  IdOf id_of_;
  boost::asio::posix::stream_descriptor events_;
  std::shared_ptr<Session> current_;
  std::shared_ptr<ProcessWindow> window_;
  std::vector<std::uint64_t> ids_of(const WorkloadRecord& w);
};

}  // namespace syslens
