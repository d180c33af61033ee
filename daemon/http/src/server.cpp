#include "syslens/http/server.h"

#include <spdlog/spdlog.h>

#include <crypt.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <algorithm>
#include <unordered_map>

#include "syslens/errors.h"
#include "syslens/http_util.h"

namespace syslens {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;

namespace {

// Smaller bodies are not worth compressing. Level 1: a scrape of 1,000
// cgroups (11.6 MiB of text) becomes 0.52 MiB in 24 ms, where level 6 takes
// 64 ms for 0.44 MiB (syslens-bench-scrape prints both).
constexpr std::size_t kGzipMinBytes = 1024;
constexpr int kGzipLevel = 1;

std::optional<std::string> base64_decode(std::string_view in) {
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad) return std::nullopt;  // data after padding
    const auto v = alphabet.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (pad > 2) return std::nullopt;
  return out;
}

// Descriptors the daemon needs besides connections (BPF objects, cgroup
// handles, runtime sockets, logs).
constexpr rlim_t kReservedFds = 256;

// Raises the soft RLIMIT_NOFILE toward the hard one so that `want`
// connections fit; returns how many do.
std::size_t fit_connections(std::size_t want) {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return want;
  const rlim_t need = static_cast<rlim_t>(want) + kReservedFds;
  if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < need) {
    rlimit raised = r;
    raised.rlim_cur = (r.rlim_max == RLIM_INFINITY || r.rlim_max >= need) ? need : r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) r = raised;
  }
  if (r.rlim_cur == RLIM_INFINITY || r.rlim_cur >= need) return want;
  const std::size_t fit = r.rlim_cur > kReservedFds + 16 ? static_cast<std::size_t>(r.rlim_cur - kReservedFds) : 16;
  spdlog::warn("RLIMIT_NOFILE is {}: at most {} HTTP connections (of {})", r.rlim_cur, fit, want);
  return fit;
}

}  // namespace

const char* to_string(HttpClose c) {
  switch (c) {
    case HttpClose::idle_timeout:
      return "idle_timeout";
    case HttpClose::request_timeout:
      return "request_timeout";
    case HttpClose::malformed:
      return "malformed";
    case HttpClose::too_large:
      return "too_large";
    case HttpClose::method:
      return "method";
    case HttpClose::unauthorized:
      return "unauthorized";
    case HttpClose::tls_handshake:
      return "tls_handshake";
    case HttpClose::forbidden:
      return "forbidden";
    case HttpClose::count_:
      break;
  }
  return "unknown";
}

// Basic and bearer authentication against bcrypt hashes (the exporter web
// config). bcrypt is slow on purpose (~50 ms at cost 10), so credentials
// that passed are remembered (bounded); an unknown user costs a bcrypt too,
// so timing does not tell which users exist.
class HttpServer::Authenticator {
 public:
  explicit Authenticator(const WebConfig& w) : users_(w.basic_auth_users), tokens_(w.bearer_token_hashes) {}
  bool enabled() const { return !users_.empty() || !tokens_.empty(); }
  const char* challenge() const { return users_.empty() ? "Bearer" : "Basic realm=\"syslens\""; }

  // Who the credentials name ("user:alice", "bearer"); empty: refused.
  std::string allow(std::string_view authorization) {
    if (authorization.empty() || authorization.size() > 4096) return {};
    const std::string key(authorization);
    if (const auto it = passed_.find(key); it != passed_.end()) return it->second;
    std::string who;
    if (authorization.rfind("Basic ", 0) == 0 && !users_.empty()) {
      const auto plain = base64_decode(authorization.substr(6));
      const auto colon = plain ? plain->find(':') : std::string::npos;
      if (colon != std::string::npos) {
        const auto it = users_.find(plain->substr(0, colon));
        if (matches(plain->substr(colon + 1), it == users_.end() ? kDummy : it->second) && it != users_.end()) {
          who = "user:" + it->first;
        }
      }
    } else if (authorization.rfind("Bearer ", 0) == 0) {
      const std::string token(authorization.substr(7));
      bool ok = false;
      for (const auto& h : tokens_) ok = matches(token, h) || ok;
      if (ok) who = "bearer";
    }
    if (!who.empty()) {
      if (passed_.size() >= 256) passed_.clear();
      passed_.emplace(key, who);
    }
    return who;
  }

 private:
  // bcrypt of "syslens" at cost 10: compared against for unknown users.
  static constexpr const char* kDummy = "$2b$10$kRBojZLycJT/RA4F7auokuhRqBxcjsh4xH/W5GKfgAa5xPZeSvRma";
  bool matches(const std::string& secret, const std::string& hash) {
    if (!data_) data_ = std::make_unique<crypt_data>();
    const char* out = ::crypt_r(secret.c_str(), hash.c_str(), data_.get());
    return out && hash == out;
  }
  std::map<std::string, std::string> users_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::string> passed_;  // credentials -> who
  std::unique_ptr<crypt_data> data_;                     // 32 KiB: one, reused on the io thread
};

template <class Stream>
class HttpServer::Session : public HttpServer::Waiting, public std::enable_shared_from_this<Session<Stream>> {
  using std::enable_shared_from_this<Session<Stream>>::shared_from_this;
  static constexpr bool kTls = std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>;

 public:
  template <class Socket, class... Tls>
  Session(Socket socket, HttpServer& server, PeerCaller caller, Tls&... tls)
      : stream_(std::move(socket), tls...),
        server_(server),
        caller_(std::move(caller)),
        handler_(server.handler_),
        limits_(server.limits_),
        conns_(server.conns_) {}
  ~Session() override {
    conns_->end(*this);
    --conns_->active;
  }

  void evict() override {
    evicted = true;
    asio::post(lowest().get_executor(), [self = shared_from_this()] { self->close(); });
  }

  void run() {
    if constexpr (kTls) {
      lowest().expires_after(limits_.read_timeout);
      conns_->begin(shared_from_this());
      stream_.async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
        self->conns_->end(*self);
        if (!ec) return self->read();
        // Too slow (an idle socket), or not TLS, an old version, a bad certificate.
        if (ec != asio::error::operation_aborted) {
          self->count(ec == beast::error::timeout ? HttpClose::idle_timeout : HttpClose::tls_handshake);
        }
        self->close();
      });
    } else {
      read();
    }
  }

 private:
  // Counted once per connection, and not when the cap evicted it.
  void count(HttpClose why) {
    if (!evicted) ++conns_->closed[static_cast<std::size_t>(why)];
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    parser_->body_limit(0);
    lowest().expires_after(limits_.read_timeout);
    conns_->begin(shared_from_this());
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->conns_->end(*self);
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      count(buffer_.size() > 0 || parser_->got_some() ? HttpClose::request_timeout : HttpClose::idle_timeout);
      return close();
    }
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted || evicted) return close();
    if (ec) {
      // Oversized or malformed request: answer once, then close.
      const bool large = ec == http::error::header_limit || ec == http::error::body_limit;
      count(large ? HttpClose::too_large : HttpClose::malformed);
      auto status = (ec == http::error::header_limit) ? http::status::request_header_fields_too_large
                    : (ec == http::error::body_limit) ? http::status::payload_too_large
                                                      : http::status::bad_request;
      return respond_error(status, ec.message());
    }
    const auto& req = parser_->get();
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      count(HttpClose::method);
      auto res = make(http::status::method_not_allowed, "text/plain; charset=utf-8", "only GET and HEAD are allowed\n",
                      req.version(), false);
      res.set(http::field::allow, "GET, HEAD");
      return write(std::move(res), true);
    }
    if (!caller_.forbidden.empty()) {
      count(HttpClose::forbidden);
      return write(make(http::status::forbidden, "application/json", "{\"error\":\"" + caller_.forbidden + "\"}\n",
                        req.version(), false),
                   true);
    }
    Caller caller = caller_;
    if (server_.auth_ && server_.auth_->enabled()) {
      caller.identity = server_.auth_->allow(
          std::string_view(req[http::field::authorization].data(), req[http::field::authorization].size()));
      if (caller.identity.empty()) {
        count(HttpClose::unauthorized);
        auto res =
            make(http::status::unauthorized, "text/plain; charset=utf-8", "unauthorized\n", req.version(), false);
        res.set(http::field::www_authenticate, server_.auth_->challenge());
        return write(std::move(res), true);
      }
    }
    HttpResponse r;
    try {
      r = handler_(HttpRequest(std::string(req.target()),
                               std::string(req[http::field::accept].data(), req[http::field::accept].size()),
                               std::move(caller)));
    } catch (const std::exception& e) {
      spdlog::error("handling {}: {}", std::string(req.target()), e.what());
      r = {500, "text/plain; charset=utf-8", "internal error\n"};
    }
    if (r.stream) return start_stream(r, req.version());
    // gzip when the client asks (Prometheus does): a scrape at 1,000
    // cgroups is 11-13 MiB of text, about a tenth of that compressed.
    const bool compressible = r.body.size() >= kGzipMinBytes;
    const bool gzip = compressible && accepts_gzip(std::string_view(req[http::field::accept_encoding].data(),
                                                                    req[http::field::accept_encoding].size()));
    if (gzip) r.body = gzip_compress(r.body, kGzipLevel);
    auto res =
        make(static_cast<http::status>(r.status), r.content_type, std::move(r.body), req.version(), req.keep_alive());
    if (compressible) res.set(http::field::vary, "Accept-Encoding");
    if (gzip) {
      res.set(http::field::content_encoding, "gzip");
      res.prepare_payload();
    }
    if (req.method() == http::verb::head) {
      const auto n = res.body().size();
      res.body().clear();
      res.content_length(n);
    }
    write(std::move(res), !req.keep_alive());
  }

  http::response<http::string_body> make(http::status status, const std::string& type, std::string body,
                                         unsigned version, bool keep_alive) {
    http::response<http::string_body> res{status, version};
    res.set(http::field::server, "syslens");
    res.set(http::field::content_type, type);
    for (const auto& [name, value] : server_.headers_) res.set(name, value);
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }

  // Chunked streaming: header, then chunks as the source produces them,
  // until it ends or the client goes away (noticed by a pending read).
  void start_stream(const HttpResponse& r, unsigned version) {
    src_ = r.stream;
    auto res = std::make_shared<http::response<http::empty_body>>(static_cast<http::status>(r.status), version);
    res->set(http::field::server, "syslens");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : server_.headers_) res->set(name, value);
    res->chunked(true);
    res->keep_alive(false);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    lowest().expires_after(limits_.write_timeout);
    http::async_write_header(stream_, *sr, [self = shared_from_this(), res, sr](beast::error_code ec, std::size_t) {
      if (ec) return self->end_stream();
      self->lowest().expires_never();
      self->watch_client();
      self->pump();
    });
  }

  void watch_client() {
    stream_.async_read_some(asio::buffer(probe_), [self = shared_from_this()](beast::error_code, std::size_t) {
      self->end_stream();  // EOF, reset or any byte: the client is done
    });
  }

  void pump() {
    if (!src_) return;
    src_->next([self = shared_from_this()](std::string data, bool done) {
      if (!self->src_) return;
      auto buf = std::make_shared<std::string>(std::move(data));
      auto after = [self, done](beast::error_code ec) {
        if (ec || done) return self->finish_stream(ec);
        self->lowest().expires_never();
        self->pump();
      };
      if (buf->empty()) return after({});
      self->lowest().expires_after(self->limits_.write_timeout);
      asio::async_write(self->stream_, http::make_chunk(asio::buffer(*buf)),
                        [buf, after](beast::error_code ec, std::size_t) { after(ec); });
    });
  }

  void finish_stream(beast::error_code ec) {
    if (ec || !src_) return end_stream();
    lowest().expires_after(limits_.write_timeout);
    auto last = std::make_shared<http::chunk_last<>>();
    asio::async_write(stream_, *last,
                      [self = shared_from_this(), last](beast::error_code, std::size_t) { self->end_stream(); });
  }

  void end_stream() {
    if (src_) {
      auto s = std::move(src_);
      src_.reset();
      s->cancel();
    }
    close();
  }

  void respond_error(http::status status, const std::string& why) {
    write(make(status, "text/plain; charset=utf-8", why + "\n", 11, false), true);
  }

  void write(http::response<http::string_body>&& res, bool close_after) {
    auto sp = std::make_shared<http::response<http::string_body>>(std::move(res));
    lowest().expires_after(limits_.write_timeout);
    http::async_write(stream_, *sp, [self = shared_from_this(), sp, close_after](beast::error_code ec, std::size_t) {
      if (ec || close_after) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ec;
    lowest().socket().shutdown(asio::socket_base::shutdown_both, ec);
    lowest().socket().close(ec);
  }

  auto& lowest() { return beast::get_lowest_layer(stream_); }

  Stream stream_;
  HttpServer& server_;
  const PeerCaller caller_;
  beast::flat_buffer buffer_{8192};
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::shared_ptr<HttpStream> src_;
  char probe_[1];
  const Handler& handler_;
  const HttpLimits& limits_;
  std::shared_ptr<Connections> conns_;
};

// A TLS connection before its first byte: a socket and a timer, nothing
// more. The TLS state (OpenSSL's and asio's buffers, tens of KiB) is made
// when the client speaks, so an idle TLS socket costs what an idle plain
// one does: 1,000 of them held 125 MiB more before.
class HttpServer::TlsPending : public HttpServer::Waiting, public std::enable_shared_from_this<TlsPending> {
 public:
  TlsPending(tcp::socket socket, HttpServer& server, PeerCaller caller)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        server_(server),
        conns_(server.conns_),
        caller_(std::move(caller)) {}
  ~TlsPending() override {
    conns_->end(*this);
    if (!handed_off_) --conns_->active;
  }

  void evict() override {
    evicted = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->close(); });
  }

  void run() {
    conns_->begin(shared_from_this());
    timer_.expires_after(server_.limits_.read_timeout);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->handed_off_ || !self->socket_.is_open()) return;
      if (!self->evicted) ++self->conns_->closed[static_cast<std::size_t>(HttpClose::idle_timeout)];
      self->close();
    });
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      self->timer_.cancel();
      self->conns_->end(*self);
      if (ec || self->evicted || !self->socket_.is_open()) return self->close();
      self->handed_off_ = true;  // the session takes the connection's place in the count
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(std::move(self->socket_), self->server_,
                                                                      self->caller_, *self->server_.tls_)
          ->run();
    });
  }

 private:
  void close() {
    beast::error_code ec;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  HttpServer& server_;
  std::shared_ptr<Connections> conns_;
  PeerCaller caller_;
  bool handed_off_ = false;
};

HttpServer::HttpServer(asio::io_context& io, const ListenAddress& addr, Handler handler, HttpLimits limits,
                       const WebConfig& web, bool api_remote)
    : io_(io),
      acceptor_(io),
      unix_acceptor_(io),
      api_remote_(api_remote),
      handler_(std::move(handler)),
      limits_(limits),
      accept_pause_(io),
      conns_(std::make_shared<Connections>()),
      headers_(web.headers.begin(), web.headers.end()) {
  limits_.max_connections = fit_connections(limits_.max_connections);
  if (web.auth()) auth_ = std::make_unique<Authenticator>(web);
  if (web.tls) {
    namespace ssl = asio::ssl;
    const auto& t = *web.tls;
    tls_ = std::make_unique<ssl::context>(ssl::context::tls_server);
    auto opts = ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use;
    if (t.min_version == "TLS13") opts |= ssl::context::no_tlsv1_2;
    tls_->set_options(opts);
    auto load = [](const char* what, const std::string& file, auto&& fn) {
      beast::error_code e;
      fn(e);
      if (e) throw FatalError(kExitConfig, std::string("tls_server_config.") + what + " " + file + ": " + e.message());
    };
    load("cert_file", t.cert_file, [&](beast::error_code& e) { tls_->use_certificate_chain_file(t.cert_file, e); });
    load("key_file", t.key_file,
         [&](beast::error_code& e) { tls_->use_private_key_file(t.key_file, ssl::context::pem, e); });
    if (t.client_auth_type != "NoClientCert") {
      load("client_ca_file", t.client_ca_file,
           [&](beast::error_code& e) { tls_->load_verify_file(t.client_ca_file, e); });
      auto mode = ssl::verify_peer;
      if (t.client_auth_type == "RequireAndVerifyClientCert") mode |= ssl::verify_fail_if_no_peer_cert;
      tls_->set_verify_mode(mode);
    }
  }
  beast::error_code ec;
  asio::ip::address ip;
  if (addr.host.empty()) {
    ip = asio::ip::address_v6::any();
  } else if (addr.host == "localhost") {
    ip = asio::ip::address_v4::loopback();
  } else {
    ip = asio::ip::make_address(addr.host, ec);
    if (ec) throw FatalError(kExitListen, "cannot listen on '" + addr.host + "': not an IP address");
  }
  tcp::endpoint ep(ip, addr.port);
  const std::string where = (addr.host.empty() ? std::string("*") : addr.host) + ":" + std::to_string(addr.port);
  acceptor_.open(ep.protocol(), ec);
  if (ec && addr.host.empty()) {  // no IPv6 on this host: all IPv4 addresses
    ep = tcp::endpoint(asio::ip::address_v4::any(), addr.port);
    acceptor_.open(ep.protocol(), ec);
  }
  if (!ec && ep.address().is_v6() && addr.host.empty()) acceptor_.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw FatalError(kExitListen, "cannot listen on " + where + ": " + ec.message());
}

HttpServer::HttpServer(asio::io_context& io, const UnixListen& where, Handler handler, HttpLimits limits)
    : io_(io),
      acceptor_(io),
      unix_acceptor_(io),
      unix_(where),
      handler_(std::move(handler)),
      limits_(limits),
      accept_pause_(io),
      conns_(std::make_shared<Connections>()) {
  limits_.max_connections = fit_connections(limits_.max_connections);
  const auto fail = [&](const std::string& why) {
    throw FatalError(kExitListen, "API socket " + where.path + ": " + why);
  };
  const auto slash = where.path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string dir = where.path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail("cannot create " + dir + ": " + std::strerror(errno));
  }
  beast::error_code ec;
  struct stat st {};
  if (::lstat(where.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) fail("exists and is not a socket");
    // Left by a syslensd that died, or in use by one that runs.
    local::socket probe(io);
    probe.connect(local::endpoint(where.path), ec);
    if (!ec) fail("another syslensd serves it");
    ::unlink(where.path.c_str());
  }
  unix_acceptor_.open(local(), ec);
  // Created owner-only; opened to the group below, once it is set.
  const mode_t old_mask = ::umask(0177);
  if (!ec) unix_acceptor_.bind(local::endpoint(where.path), ec);
  ::umask(old_mask);
  if (!ec) unix_acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail(ec.message());
  // Made with syslensd's group (the unit's Group=syslens: no chown, which
  // its syscall filter refuses), or given to the group (CAP_CHOWN, or a
  // group syslensd is in); otherwise it stays owner-only.
  if (where.group) {
    struct stat made {};
    const bool has_group = ::stat(where.path.c_str(), &made) == 0 && made.st_gid == *where.group;
    if (!has_group && ::chown(where.path.c_str(), static_cast<uid_t>(-1), static_cast<gid_t>(*where.group)) != 0) {
      spdlog::warn("API socket {}: cannot give it to group {}: {}; it serves root only", where.path, *where.group,
                   std::strerror(errno));
      unix_.group.reset();
    } else {
      ::chmod(where.path.c_str(), 0660);
    }
  }
}

HttpServer::~HttpServer() {
  stop();
  if (!unix_.path.empty()) ::unlink(unix_.path.c_str());
}

HttpServer::PeerCaller HttpServer::caller_of(tcp::socket& s) const {
  PeerCaller c;
  beast::error_code ec;
  const auto ep = s.remote_endpoint(ec);
  if (ec) {
    c.api = api_remote_;
    return c;
  }
  auto ip = ep.address();
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) ip = ip.to_v6().to_v4();
  c.peer = (ip.is_v6() ? "[" + ip.to_string() + "]" : ip.to_string()) + ":" + std::to_string(ep.port());
  c.api = ip.is_loopback() || api_remote_;
  return c;
}

HttpServer::PeerCaller HttpServer::caller_of(local::socket& s) const {
  PeerCaller c;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    c.forbidden = "cannot tell who is calling (SO_PEERCRED failed)";
    return c;
  }
  c.identity = "uid:" + std::to_string(cred.uid);
  c.peer = "pid " + std::to_string(cred.pid);
  bool member = cred.uid == 0 || cred.uid == ::geteuid();
  if (!member && unix_.group) {
    // Its groups as they were at connect (SO_PEERGROUPS, Linux 4.13): no
    // /proc read, which the unit's ProtectProc=invisible would hide.
    std::vector<gid_t> groups(64);
    for (int attempt = 0; attempt < 2; ++attempt) {
      socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
      if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
        groups.resize(bytes / sizeof(gid_t));
        break;
      }
      groups.assign(errno == ERANGE ? bytes / sizeof(gid_t) + 1 : 0, 0);
      if (groups.empty()) break;
    }
    member = cred.gid == *unix_.group || std::find(groups.begin(), groups.end(), *unix_.group) != groups.end();
  }
  if (!member) {
    c.forbidden = "uid " + std::to_string(cred.uid) + " may not use the syslens API: its socket serves root" +
                  (unix_.group ? " and group " + std::to_string(*unix_.group) : std::string()) + " (docs/security.md)";
  }
  return c;
}

bool HttpServer::tls() const { return tls_ != nullptr; }

std::uint16_t HttpServer::port() const {
  beast::error_code ec;
  return unix_.path.empty() ? acceptor_.local_endpoint(ec).port() : 0;
}

void HttpServer::start() { accept(); }

void HttpServer::stop() {
  beast::error_code ec;
  acceptor_.close(ec);
  unix_acceptor_.close(ec);
  accept_pause_.cancel();
}

void HttpServer::Connections::begin(const std::shared_ptr<Waiting>& w) {
  const std::lock_guard lock(mu);
  if (!w->pos) w->pos = list.insert(list.end(), w);
}

void HttpServer::Connections::end(Waiting& w) {
  const std::lock_guard lock(mu);
  if (w.pos) list.erase(*std::exchange(w.pos, std::nullopt));
}

std::shared_ptr<HttpServer::Waiting> HttpServer::Connections::pop_oldest() {
  const std::lock_guard lock(mu);
  while (!list.empty()) {
    auto w = list.front().lock();
    list.pop_front();
    if (w) {
      w->pos.reset();
      return w;
    }
  }
  return nullptr;
}

// At the cap: close the session that has waited longest for its request
// (an idle socket, a slow-loris, a stalled handshake), so the new client
// gets in. False when every session is busy answering.
bool HttpServer::evict_oldest_waiting() {
  const auto victim = conns_->pop_oldest();
  if (!victim) return false;
  ++evicted_;
  victim->evict();
  return true;
}

void HttpServer::accept() {
  if (unix_.path.empty()) {
    accept_on(acceptor_);
  } else {
    accept_on(unix_acceptor_);
  }
}

template <class Acceptor>
void HttpServer::accept_on(Acceptor& acceptor) {
  acceptor.async_accept(
      asio::make_strand(io_), [this, &acceptor](beast::error_code ec, typename Acceptor::protocol_type::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
        if (ec) {
          // Out of descriptors (or memory): accepting again at once would spin
          // on the same error. Free one waiting connection and pause a little.
          ++accept_errors_;
          evict_oldest_waiting();
          accept_pause_.expires_after(std::chrono::milliseconds(50));
          accept_pause_.async_wait([this](beast::error_code wait_ec) {
            if (!wait_ec) accept();
          });
          return;
        }
        if (conns_->active >= limits_.max_connections && !evict_oldest_waiting()) {
          ++rejected_;
          beast::error_code ignored;
          socket.close(ignored);
        } else {
          ++conns_->active;
          auto caller = caller_of(socket);
          if constexpr (std::is_same_v<Acceptor, local::acceptor>) {
            std::make_shared<Session<beast::basic_stream<local>>>(std::move(socket), *this, std::move(caller))->run();
          } else if (tls_) {
            std::make_shared<TlsPending>(std::move(socket), *this, std::move(caller))->run();
          } else {
            std::make_shared<Session<beast::tcp_stream>>(std::move(socket), *this, std::move(caller))->run();
          }
        }
        accept_on(acceptor);
      });
}

}  // namespace syslens
