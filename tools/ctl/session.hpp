#pragma once
// quiverctl's view of a server: one keep-alive HTTP connection, the API key on
// every request, 429 and 503 retried after Retry-After, and every failure turned
// into an error that says what to do and an exit code a script can trust.

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "tools/load/client.hpp"

namespace quiver::ctl {

using load::http_result;
using load::method;

// Exit codes (quiverctl --help lists them).
enum exit_code : int {
  exit_ok = 0,
  exit_failed = 1,       // the server refused or failed the request
  exit_usage = 2,        // a bad command line
  exit_unreachable = 3,  // nothing answered at --url (or it timed out)
  exit_not_found = 4,    // the index, vector or tenant does not exist
  exit_denied = 5,       // 401/403: a missing, wrong or insufficient key
  exit_bad_input = 6,    // an input file is unreadable or malformed; nothing was sent
};

struct ctl_error : std::runtime_error {
  ctl_error(int code, const std::string& what) : std::runtime_error(what), code(code) {}
  int code;
};

struct connection_options {
  std::string url = "http://127.0.0.1:4210";
  std::string key;
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  // How long 429 and 503 answers are retried (after Retry-After) before giving up.
  std::chrono::milliseconds retry_for{std::chrono::seconds(120)};
};

// "http://host[:port][/]": the host is resolved here (a name or an address).
load::endpoint parse_url(const std::string& url);

class session {
 public:
  explicit session(connection_options opt);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // One request, retried while the answer is transient() (for retry_for). A
  // transport failure throws ctl_error(exit_unreachable).
  http_result call(method m, const std::string& path, std::string body = {},
                   const std::string& content_type = "application/json");
  // call(), and any answer but 2xx throws ctl_error with the server's message
  // and a hint; `what` names the action ("creating index x").
  std::string expect(method m, const std::string& path, const std::string& what,
                     std::string body = {}, const std::string& content_type = "application/json");

  // Another connection to the same server with the same key (parallel imports);
  // it runs on io().
  std::unique_ptr<load::http_connection> connect(std::chrono::milliseconds timeout);
  boost::asio::io_context& io() { return ioc_; }
  const connection_options& options() const { return opt_; }

 private:
  connection_options opt_;
  load::endpoint target_;
  boost::asio::io_context ioc_;
  std::unique_ptr<load::http_connection> conn_;
};

// The server's {"error": {"code", "message"}} as one line with a hint, or the
// transport error; and the exit code that status maps to.
std::string describe_failure(const http_result& r, const std::string& what, const std::string& url);
int exit_code_for(const http_result& r);
// Whether sending the same request again later may succeed: no answer, the
// tenant's rate limit, or a shard without a serving primary (not a quota).
bool transient(const http_result& r);
// Retry-After in milliseconds (default when absent or unreadable), capped at 10 s.
std::chrono::milliseconds retry_delay(const http_result& r, std::chrono::milliseconds fallback);

}  // namespace quiver::ctl
