#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>
#include <unistd.h>

#include "syslens/runtimes/clients.h"
#include "syslens/workloads/runtime_parse.h"

namespace syslens {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::string unix_http_get(const std::string& socket_path, const std::string& target,
                          std::chrono::milliseconds timeout) {
  asio::io_context io;
  beast::basic_stream<asio::local::stream_protocol> stream(io);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "localhost");
  req.set(http::field::user_agent, "syslens");
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 << 20);
  beast::error_code failure;
  const char* step = "connect";
  stream.expires_after(timeout);
  stream.async_connect(asio::local::stream_protocol::endpoint(socket_path), [&](beast::error_code ec) {
    if (ec) return void(failure = ec);
    step = "write";
    http::async_write(stream, req, [&](beast::error_code ec2, std::size_t) {
      if (ec2) return void(failure = ec2);
      step = "read";
      http::async_read(stream, buf, parser, [&](beast::error_code ec3, std::size_t) { failure = ec3; });
    });
  });
  io.run();
  if (failure) throw std::runtime_error(std::string(step) + " " + socket_path + ": " + failure.message());
  const auto status = parser.get().result_int();
  if (status < 200 || status > 299) {
    throw std::runtime_error("GET " + target + " on " + socket_path + ": HTTP " + std::to_string(status));
  }
  return parser.get().body();
}

namespace {

class DockerSource final : public MetadataSource {
 public:
  explicit DockerSource(std::string socket) : socket_(std::move(socket)) {}
  std::string name() const override { return "docker:" + socket_; }
  std::vector<std::pair<std::string, ContainerMeta>> list(std::chrono::milliseconds timeout) override {
    if (::access(socket_.c_str(), F_OK) != 0) throw RuntimeAbsent("no socket at " + socket_);
    return parse_docker_containers(unix_http_get(socket_, "/containers/json?all=true", timeout));
  }

 private:
  std::string socket_;
};

}  // namespace

std::unique_ptr<MetadataSource> make_docker_source(std::string socket_path) {
  return std::make_unique<DockerSource>(std::move(socket_path));
}

}  // namespace syslens
