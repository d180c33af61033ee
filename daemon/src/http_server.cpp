#include "http_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "syslens/errors.h"

namespace syslens {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Handler& handler, const HttpLimits& limits,
          std::shared_ptr<std::atomic<std::size_t>> active)
      : stream_(std::move(socket)), handler_(handler), limits_(limits), active_(std::move(active)) {}
  ~Session() { --*active_; }

  void run() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    parser_->body_limit(0);
    stream_.expires_after(limits_.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted) {
      return close();
    }
    if (ec) {
      // Oversized or malformed request: answer once, then close.
      auto status = (ec == http::error::header_limit) ? http::status::request_header_fields_too_large
                    : (ec == http::error::body_limit) ? http::status::payload_too_large
                                                       : http::status::bad_request;
      return respond_error(status, ec.message());
    }
    const auto& req = parser_->get();
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      auto res = make(http::status::method_not_allowed, "text/plain; charset=utf-8", "only GET and HEAD are allowed\n",
                      req.version(), false);
      res.set(http::field::allow, "GET, HEAD");
      return write(std::move(res), true);
    }
    HttpResponse r;
    try {
      r = handler_(std::string(req.target()));
    } catch (const std::exception& e) {
      spdlog::error("handling {}: {}", std::string(req.target()), e.what());
      r = {500, "text/plain; charset=utf-8", "internal error\n"};
    }
    if (r.stream) return start_stream(std::move(r), req.version());
    auto res = make(static_cast<http::status>(r.status), r.content_type, std::move(r.body), req.version(),
                    req.keep_alive());
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
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }

  // Chunked streaming: header, then chunks as the source produces them,
  // until it ends or the client goes away (noticed by a pending read).
  void start_stream(HttpResponse r, unsigned version) {
    src_ = r.stream;
    auto res = std::make_shared<http::response<http::empty_body>>(static_cast<http::status>(r.status), version);
    res->set(http::field::server, "syslens");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-store");
    res->chunked(true);
    res->keep_alive(false);
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    stream_.expires_after(limits_.write_timeout);
    http::async_write_header(stream_, *sr, [self = shared_from_this(), res, sr](beast::error_code ec, std::size_t) {
      if (ec) return self->end_stream();
      self->stream_.expires_never();
      self->watch_client();
      self->pump();
    });
  }

  void watch_client() {
    stream_.socket().async_read_some(asio::buffer(probe_), [self = shared_from_this()](beast::error_code, std::size_t) {
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
        self->stream_.expires_never();
        self->pump();
      };
      if (buf->empty()) return after({});
      self->stream_.expires_after(self->limits_.write_timeout);
      asio::async_write(self->stream_, http::make_chunk(asio::buffer(*buf)),
                        [buf, after](beast::error_code ec, std::size_t) { after(ec); });
    });
  }

  void finish_stream(beast::error_code ec) {
    if (ec || !src_) return end_stream();
    stream_.expires_after(limits_.write_timeout);
    auto last = std::make_shared<http::chunk_last<>>();
    asio::async_write(stream_, *last, [self = shared_from_this(), last](beast::error_code, std::size_t) {
      self->end_stream();
    });
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
    stream_.expires_after(limits_.write_timeout);
    http::async_write(stream_, *sp, [self = shared_from_this(), sp, close_after](beast::error_code ec, std::size_t) {
      if (ec || close_after) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{8192};
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::shared_ptr<HttpStream> src_;
  char probe_[1];
  const Handler& handler_;
  const HttpLimits& limits_;
  std::shared_ptr<std::atomic<std::size_t>> active_;
};

HttpServer::HttpServer(asio::io_context& io, const ListenAddress& addr, Handler handler, HttpLimits limits)
    : io_(io),
      acceptor_(io),
      handler_(std::move(handler)),
      limits_(limits),
      active_(std::make_shared<std::atomic<std::size_t>>(0)) {
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

HttpServer::~HttpServer() { stop(); }

std::uint16_t HttpServer::port() const {
  beast::error_code ec;
  return acceptor_.local_endpoint(ec).port();
}

void HttpServer::start() { accept(); }

void HttpServer::stop() {
  beast::error_code ec;
  acceptor_.close(ec);
}

void HttpServer::accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      if (*active_ >= limits_.max_connections) {
        ++rejected_;
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        ++*active_;
        std::make_shared<Session>(std::move(socket), handler_, limits_, active_)->run();
      }
    }
    accept();
  });
}

}  // namespace syslens
