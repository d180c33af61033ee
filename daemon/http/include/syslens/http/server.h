// The daemon's one HTTP listener (Boost.Beast). Read-only and bounded: GET
// and HEAD only, small request headers, no request bodies, per-request time
// limits, a cap on concurrent connections. At the cap, the connection that
// has waited longest for its request is closed to make room: an idle socket
// costs its owner a connection, never a working client its scrape. Every
// connection it closes is counted by why.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
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
  // Open connections at most; lowered to what RLIMIT_NOFILE allows (the
  // soft limit is raised toward the hard one for it first).
  std::size_t max_connections = 1024;
  // From a connection's first byte awaited to its request's last header.
  std::chrono::seconds read_timeout{10};
  std::chrono::seconds write_timeout{30};
};

// Why the server closed a connection, other than an answer sent or a client
// gone (each counted; the cap's evictions and refusals are counted apart).
enum class HttpClose {
  idle_timeout,     // no byte of a request within the read timeout (an idle keep-alive, an idle socket)
  request_timeout,  // a request begun and not finished within it (a slow-loris)
  malformed,        // not HTTP: answered 400
  too_large,        // headers over the limit: answered 431
  method,           // not GET or HEAD: answered 405
  unauthorized,     // authentication required and not given: answered 401
  tls_handshake,    // not TLS, an old TLS version, a bad client certificate
  forbidden,        // a caller the API socket does not serve: answered 403
  count_
};
const char* to_string(HttpClose c);

// The API socket: a unix socket for root and one group.
struct UnixListen {
  std::string path;
  // Members of this group may connect (mode 0660) and are served;
  // nullopt: root and syslensd's own user only (mode 0600).
  std::optional<unsigned> group;
};

class HttpServer {
 public:
  // Called on the io thread.
  using Handler = std::function<HttpResponse(const HttpRequest& request)>;

  // Binds and listens at once, so a taken port fails startup before any BPF
  // is loaded. Throws FatalError(kExitListen).
  // Network clients get Caller::api only with api_remote; loopback ones always.
  HttpServer(boost::asio::io_context& io, const ListenAddress& addr, Handler handler, HttpLimits limits = {},
             const WebConfig& web = {}, bool api_remote = false);
  // The API socket: a stale socket left by a crash is replaced, a live one
  // (another syslensd) fails startup. If the group cannot be given (not
  // root's, no CAP_CHOWN), a warning, and it stays owner-only. Each caller is known by SO_PEERCRED;
  // one that is not root, syslensd's user or in the group (primary or
  // supplementary, SO_PEERGROUPS) gets a 403.
  HttpServer(boost::asio::io_context& io, const UnixListen& where, Handler handler, HttpLimits limits = {});
  ~HttpServer();

  void start();
  void stop();
  std::uint16_t port() const;
  // Closed at once: the cap was reached and every connection was busy.
  std::uint64_t rejected_connections() const { return rejected_; }
  // Closed to make room: waiting for a request when a new client came.
  std::uint64_t evicted_connections() const { return evicted_; }
  std::uint64_t closed(HttpClose why) const { return conns_->closed[static_cast<std::size_t>(why)]; }
  // accept() failures (out of file descriptors): each pauses accepting 50 ms.
  std::uint64_t accept_errors() const { return accept_errors_; }
  std::size_t open_connections() const { return conns_->active; }
  std::size_t connection_limit() const { return limits_.max_connections; }
  bool tls() const;
  // The API socket's group, once given to it; nullopt: owner only (or TCP).
  std::optional<unsigned> socket_group() const { return unix_.group; }

 private:
  template <class Stream>
  class Session;
  template <class Acceptor>
  void accept_on(Acceptor& acceptor);
  // A caller, and why it is not served if it is not ("" if it is).
  struct PeerCaller : Caller {
    std::string forbidden;
  };
  PeerCaller caller_of(boost::asio::ip::tcp::socket& s) const;
  PeerCaller caller_of(boost::asio::local::stream_protocol::socket& s) const;
  class TlsPending;
  class Authenticator;
  // What the server knows of a session waiting for a request.
  struct Waiting {
    virtual ~Waiting() = default;
    virtual void evict() = 0;                                        // closes it, on its own executor
    std::optional<std::list<std::weak_ptr<Waiting>>::iterator> pos;  // guarded by Connections::mu
    std::atomic<bool> evicted{false};                                // then its own close is not counted again
  };
  // The open sessions: how many, and those waiting for a request, oldest
  // first. Shared with them: a session can outlive the server (io_context
  // teardown).
  struct Connections {
    void begin(const std::shared_ptr<Waiting>& w);
    void end(Waiting& w);
    std::shared_ptr<Waiting> pop_oldest();
    std::atomic<std::size_t> active{0};
    std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(HttpClose::count_)> closed{};
    std::mutex mu;
    std::list<std::weak_ptr<Waiting>> list;
  };
  void accept();
  bool evict_oldest_waiting();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::local::stream_protocol::acceptor unix_acceptor_;
  UnixListen unix_;  // path empty: a TCP listener
  bool api_remote_ = false;
  Handler handler_;
  HttpLimits limits_;
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> evicted_{0};
  std::atomic<std::uint64_t> accept_errors_{0};
  boost::asio::steady_timer accept_pause_;
  std::shared_ptr<Connections> conns_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace syslens
