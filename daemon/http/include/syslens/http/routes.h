// Every endpoint of the listener in one table: exact paths and path
// prefixes, tried in order; the first that matches answers, anything else
// is a 404. The query string is not part of the match.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "syslens/http/response.h"

namespace syslens {

class Routes {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest& request)>;

  Routes& exact(std::string path, Handler h) { return add(std::move(path), false, std::move(h)); }
  // path itself and everything below it ("/api/v1/workloads", ".../x").
  Routes& prefix(std::string path, Handler h) { return add(std::move(path), true, std::move(h)); }

  HttpResponse operator()(const HttpRequest& request) const {
    const std::string path = request.target.substr(0, request.target.find('?'));
    for (const auto& r : routes_) {
      const bool hit = r.prefix ? path.compare(0, r.path.size(), r.path) == 0 &&
                                      (path.size() == r.path.size() || path[r.path.size()] == '/')
                                : path == r.path;
      if (hit) return r.handle(request);
    }
    return {404, "text/plain; charset=utf-8", "not found\n"};
  }

  // The paths served, prefixes as "/api/v1/workloads/...", in order.
  std::vector<std::string> paths() const {
    std::vector<std::string> out;
    for (const auto& r : routes_) out.push_back(r.path + (r.prefix ? "/..." : ""));
    return out;
  }

 private:
  struct Route {
    std::string path;
    bool prefix;
    Handler handle;
  };
  Routes& add(std::string path, bool prefix, Handler h) {
    routes_.push_back({std::move(path), prefix, std::move(h)});
    return *this;
  }
  std::vector<Route> routes_;
};

}  // namespace syslens
