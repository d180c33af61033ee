// The daemon's one HTTP listener (Boost.Beast). Read-only and bounded: GET
// and HEAD only, small request headers, no request bodies, per-request time
// limits, a cap on concurrent connections. At the cap, the connection that
// has waited longest for its request is closed to make room: an idle socket
// costs its owner a connection, never a working client its scrape.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "syslens/config.h"
#include "syslens/http/response.h"

namespace syslens {

struct HttpLimits {
  std::size_t max_header_bytes = 8192;
  std::size_t max_connections = 64;
  std::chrono::seconds read_timeout{10};
  std::chrono::seconds write_timeout{30};
};

class HttpServer {
 public:
  // target: the request target (path and query). Called on the io thread.
  using Handler = std::function<HttpResponse(const std::string& target)>;

  // Binds and listens at once, so a taken port fails startup before any BPF
  // is loaded. Throws FatalError(kExitListen).
  HttpServer(boost::asio::io_context& io, const ListenAddress& addr, Handler handler, HttpLimits limits = {},
             const WebConfig& web = {});
  ~HttpServer();

  void start();
  void stop();
  std::uint16_t port() const;
  // Closed at once: the cap was reached and every connection was busy.
  std::uint64_t rejected_connections() const { return rejected_; }
  // Closed to make room: waiting for a request when a new client came.
  std::uint64_t evicted_connections() const { return evicted_; }
  bool tls() const;

 private:
  template <class Stream>
  class Session;
  class Authenticator;
  // What the server knows of a session waiting for a request.
  struct Waiting {
    virtual ~Waiting() = default;
    virtual void evict() = 0;                                        // closes it, on its own executor
    std::optional<std::list<std::weak_ptr<Waiting>>::iterator> pos;  // guarded by Connections::mu
  };
  // The open sessions: how many, and those waiting for a request, oldest
  // first. Shared with them: a session can outlive the server (io_context
  // teardown).
  struct Connections {
    void begin(const std::shared_ptr<Waiting>& w);
    void end(Waiting& w);
    std::shared_ptr<Waiting> pop_oldest();
    std::atomic<std::size_t> active{0};
    std::mutex mu;
    std::list<std::weak_ptr<Waiting>> list;
  };
  void accept();
  bool evict_oldest_waiting();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Handler handler_;
  HttpLimits limits_;
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> evicted_{0};
  std::shared_ptr<Connections> conns_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace syslens
