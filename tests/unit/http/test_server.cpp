// The listener in-process, on loopback, under ASan and TSan too: the
// connection limit and what happens at it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
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

// The API socket in-process: created owner-only then 0660 for its group,
// each request knows its caller (uid from SO_PEERCRED), a stale socket is
// replaced, a live one refuses a second server, and it is removed at the end.
TEST(HttpServer, TheApiSocketKnowsItsCallerAndReplacesOnlyAStaleSocket) {
  const std::string path = "/tmp/syslens-unit-" + std::to_string(::getpid()) + "/api.sock";
  boost::asio::io_context io;
  Caller seen;
  {
    HttpServer server(io, UnixListen{path, static_cast<unsigned>(::getegid())}, [&](const HttpRequest& r) {
      seen = r.caller;
      return HttpResponse{200, "text/plain", "hi\n"};
    });
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0660U);
    EXPECT_EQ(st.st_gid, ::getegid());
    try {
      HttpServer second(io, UnixListen{path, std::nullopt}, [](const HttpRequest&) { return HttpResponse{}; });
      ADD_FAILURE() << "a second server took a live socket";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("another syslensd serves it"), std::string::npos) << e.what();
    }
    server.start();
    std::thread t([&] { io.run_for(std::chrono::seconds(3)); });
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    const std::string req = "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    char buf[512];
    std::string got;
    for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    server.stop();
    io.stop();
    t.join();
    EXPECT_EQ(got.substr(0, got.find("\r\n")), "HTTP/1.1 200 OK");
    EXPECT_EQ(seen.identity, "uid:" + std::to_string(::geteuid()));
    EXPECT_EQ(seen.peer, "pid " + std::to_string(::getpid()));
    EXPECT_TRUE(seen.api);
  }
  struct stat st {};
  EXPECT_NE(::stat(path.c_str(), &st), 0);  // removed
  // A socket left by a process that died: replaced.
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ::close(fd);  // bound, never listening: what a crash leaves
    HttpServer server(io, UnixListen{path, std::nullopt}, [](const HttpRequest&) { return HttpResponse{}; });
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600U);  // no group: owner only
  }
  // Not a socket: refused, not removed.
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
    try {
      HttpServer server(io, UnixListen{path, std::nullopt}, [](const HttpRequest&) { return HttpResponse{}; });
      ADD_FAILURE() << "took a regular file's place";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("exists and is not a socket"), std::string::npos) << e.what();
    }
    EXPECT_EQ(::unlink(path.c_str()), 0);
  }
  ::rmdir(path.substr(0, path.rfind('/')).c_str());
}

// A loopback client may use the API; a TCP client's caller is anonymous
// with its address for the logs.
TEST(HttpServer, ALoopbackClientIsAnAnonymousApiCaller) {
  boost::asio::io_context io;
  Caller seen;
  seen.api = false;
  HttpServer server(io, ListenAddress{"127.0.0.1", 0}, [&](const HttpRequest& r) {
    seen = r.caller;
    return HttpResponse{200, "text/plain", "hi\n"};
  });
  server.start();
  std::thread t([&] { io.run_for(std::chrono::seconds(3)); });
  EXPECT_EQ(status_line(server.port()), "HTTP/1.1 200 OK");
  server.stop();
  io.stop();
  t.join();
  EXPECT_TRUE(seen.api);
  EXPECT_FALSE(seen.authorized());
  EXPECT_EQ(seen.peer.rfind("127.0.0.1:", 0), 0U) << seen.peer;
  EXPECT_EQ(seen.who().rfind("anonymous (127.0.0.1:", 0), 0U) << seen.who();
}
