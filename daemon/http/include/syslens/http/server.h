// The daemon's one HTTP listener (Boost.Beast). Read-only and bounded: GET
// and HEAD only, small request headers, no request bodies, per-request time
// limits, a cap on concurrent connections.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <memory>
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
  std::uint64_t rejected_connections() const { return rejected_; }
  bool tls() const;

 private:
  template <class Stream>
  class Session;
  class Authenticator;
  void accept();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Handler handler_;
  HttpLimits limits_;
  std::shared_ptr<std::atomic<std::size_t>> active_;
  std::atomic<std::uint64_t> rejected_{0};
  std::vector<std::pair<std::string, std::string>> headers_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace syslens
