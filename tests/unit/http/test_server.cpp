// The listener in-process, on loopback, under ASan and TSan too: the
// connection limit and what happens at it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "syslens/http/server.h"

using namespace syslens;

namespace {
int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  return fd;
}

// One request on a fresh connection; the response's first line, or "" when
// the server closed the connection without answering within 2 s.
std::string status_line(std::uint16_t port) {
  const int fd = connect_to(port);
  const std::string req = "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  EXPECT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[512];
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, 2000) == 1) {
    const auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return got.substr(0, got.find("\r\n"));
}

bool closed_by_server(int fd) {
  pollfd p{fd, POLLIN, 0};
  char c;
  return ::poll(&p, 1, 1000) == 1 && ::recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}
}  // namespace

// At the limit, idle connections (no request yet) make room for new clients,
// oldest first; the server is destroyed before its io_context with sessions
// still open, as the daemon does at shutdown.
TEST(HttpServer, AtTheLimitTheOldestIdleConnectionMakesRoom) {
  boost::asio::io_context io(1);
  auto server = std::make_unique<HttpServer>(
      io, ListenAddress{"127.0.0.1", 0},
      [](const HttpRequest&) {
        return HttpResponse{200, "text/plain", "ok\n"};
      },
      HttpLimits{8192, 3, std::chrono::seconds(30), std::chrono::seconds(30)});
  server->start();
  std::thread runner([&] { io.run(); });
  const auto port = server->port();
  std::vector<int> idle = {connect_to(port), connect_to(port), connect_to(port)};
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  const auto settle = [] { std::this_thread::sleep_for(std::chrono::milliseconds(100)); };
  EXPECT_EQ(status_line(port), "HTTP/1.1 200 OK");  // full: the oldest idle one makes room
  EXPECT_TRUE(closed_by_server(idle[0]));
  settle();
  idle.push_back(connect_to(port));  // full again
  settle();
  EXPECT_EQ(status_line(port), "HTTP/1.1 200 OK");
  EXPECT_TRUE(closed_by_server(idle[1]));
  settle();
  EXPECT_EQ(status_line(port), "HTTP/1.1 200 OK");  // room left: nobody closed
  for (int i : {2, 3}) {
    pollfd p{idle[i], POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 200), 0) << "idle connection " << i << " was closed";
  }
  EXPECT_EQ(server->evicted_connections(), 2U);
  EXPECT_EQ(server->rejected_connections(), 0U);

  io.stop();
  runner.join();
  server.reset();  // the open sessions outlive the server until the io_context goes
  for (int fd : idle) ::close(fd);
}
