// What a handler is asked and what it answers: the request's target and the
// headers it may negotiate on; status, type and body, or a stream. Stands
// alone (no server, no sockets) so that handlers are unit-tested by calling
// them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>

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

// Who asks, as the listener knows it.
struct Caller {
  // "uid:1000" on the API socket (SO_PEERCRED), "user:alice" when
  // authenticated over TCP (basic; "bearer" for a token); empty: anonymous
  // (loopback without authentication, or a network client let in by
  // --web.api-remote-without-auth).
  std::string identity;
  std::string peer;  // for the logs: "127.0.0.1:41234", "pid 42"
  // May use the API (profiles, seccomp, attribution, workloads, trace,
  // processes). False for a network client unless --web.api-remote.
  bool api = true;
  bool authorized() const { return !identity.empty(); }
  // "uid:1000 (pid 42)", "anonymous (127.0.0.1:41234)".
  std::string who() const {
    return (identity.empty() ? "anonymous" : identity) + (peer.empty() ? "" : " (" + peer + ")");
  }
};

struct HttpRequest {
  HttpRequest(std::string t = "/", std::string a = {}, Caller c = {})
      : target(std::move(t)), accept(std::move(a)), caller(std::move(c)) {}
  HttpRequest(const char* t) : target(t) {}  // a target alone, as tests write it
  std::string target;                        // path and query
  std::string accept;                        // the Accept header; empty if none
  Caller caller;
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

}  // namespace syslens
