// What a handler answers: status, type and body, or a stream. Stands alone
// (no server, no sockets) so that handlers are unit-tested by calling them.
#pragma once

#include <functional>
#include <memory>
#include <string>

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

}  // namespace syslens
