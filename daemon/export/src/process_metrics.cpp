#include "syslens/export/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace syslens {

namespace {

prometheus::MetricFamily gauge_family(const char* name, const char* help, prometheus::MetricType type, double v) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  f.metric.push_back(m);
  return f;
}

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  double v = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> v;
      return v;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

}  // namespace

std::vector<prometheus::MetricFamily> collect_process_metrics() {
  std::vector<prometheus::MetricFamily> out;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));

  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  auto rparen = line.rfind(')');
  if (rparen != std::string::npos) {
    std::istringstream is(line.substr(rparen + 2));
    std::vector<std::string> f;
    for (std::string t; is >> t;) f.push_back(t);
    // Fields after comm, 0-based from "state" (field 3 in proc(5)).
    if (f.size() > 21) {
      const double utime = std::stod(f[11]), stime = std::stod(f[12]);
      const double start = std::stod(f[19]);
      const double vsize = std::stod(f[20]), rss = std::stod(f[21]);
      out.push_back(gauge_family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                                 prometheus::MetricType::Counter, (utime + stime) / ticks));
      out.push_back(gauge_family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                                 prometheus::MetricType::Gauge, boot_time_seconds() + start / ticks));
      out.push_back(gauge_family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                 prometheus::MetricType::Gauge, vsize));
      out.push_back(gauge_family("process_resident_memory_bytes", "Resident memory size in bytes.",
                                 prometheus::MetricType::Gauge, rss * page));
    }
  }
  std::error_code ec;
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  out.push_back(
      gauge_family("process_open_fds", "Number of open file descriptors.", prometheus::MetricType::Gauge, fds));
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    out.push_back(gauge_family("process_max_fds", "Maximum number of open file descriptors.",
                               prometheus::MetricType::Gauge, static_cast<double>(rl.rlim_cur)));
  }
  return out;
}

}  // namespace syslens
