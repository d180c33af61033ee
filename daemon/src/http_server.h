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

namespace syslens {

// A response body produced over time (a live trace), sent chunked.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  // Asks for more; `deliver` is called once, on the io thread, with the next
  // data and whether the stream has ended.
  virtual void next(std::function<void(std::string data, bool done)> deliver) = 0;
  // The client went away (or the server stops): release what it holds.
  virtual void cancel() = 0;
};

struct HttpResponse {
  HttpResponse(unsigned s = 200, std::string type = "text/plain; charset=utf-8", std::string b = {},
               std::shared_ptr<HttpStream> st = nullptr)
      : status(s), content_type(std::move(type)), body(std::move(b)), stream(std::move(st)) {}
  unsigned status;
  std::string content_type;
  std::string body;
  std::shared_ptr<HttpStream> stream;  // if set, body is ignored and this is sent chunked
};

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
