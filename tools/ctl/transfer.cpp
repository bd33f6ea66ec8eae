#include "tools/ctl/transfer.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>
#include <filesystem>

namespace quiver::ctl {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Beast 1.74 compares the length with an empty optional as "over the limit":
// "no limit" is the largest number instead of boost::none.
constexpr std::uint64_t no_limit = ~std::uint64_t(0);
// Each read or write must make progress within this long; the whole may take longer.
constexpr auto step_timeout = std::chrono::minutes(10);

void connect(beast::tcp_stream& stream, const connection_options& c) {
  auto target = parse_url(c.url);
  beast::error_code ec;
  stream.expires_after(c.timeout);
  stream.connect(tcp::endpoint(net::ip::make_address(target.host), target.port), ec);
  if (ec)
    throw ctl_error(exit_unreachable, "nothing answers at " + c.url + " (" + ec.message() +
                                          "); is the server running? Set --url or QUIVER_URL");
}

template <class Request>
void prepare(Request& req, const connection_options& c) {
  req.set(http::field::host, "quiver");
  req.set(http::field::accept, "application/json");
  if (!c.key.empty()) req.set(http::field::authorization, "Bearer " + c.key);
}

[[noreturn]] void transport(const std::string& what, const beast::error_code& ec) {
  throw ctl_error(exit_unreachable, what + ": " + ec.message());
}

}  // namespace

transfer_result download(const connection_options& c, const std::string& path,
                         const std::string& file) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  connect(stream, c);
  http::request<http::empty_body> req{http::verb::get, path, 11};
  prepare(req, c);
  beast::error_code ec;
  stream.expires_after(step_timeout);
  http::write(stream, req, ec);
  if (ec) transport("sending the request", ec);
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> head;
  head.body_limit(no_limit);
  stream.expires_after(step_timeout);
  http::read_header(stream, buffer, head, ec);
  if (ec) transport("reading the answer", ec);
  transfer_result out;
  out.status = static_cast<int>(head.get().result_int());
  if (out.status != 200) {
    http::response_parser<http::string_body> error(std::move(head));
    stream.expires_after(step_timeout);
    http::read(stream, buffer, error, ec);
    out.body = error.get().body();
    return out;
  }
  auto part = file + ".part";
  http::response_parser<http::file_body> body(std::move(head));
  body.body_limit(no_limit);
  body.get().body().open(part.c_str(), beast::file_mode::write, ec);
  if (ec) throw ctl_error(exit_bad_input, part + ": " + ec.message());
  while (!body.is_done()) {
    stream.expires_after(step_timeout);
    http::read_some(stream, buffer, body, ec);
    if (ec) {
      std::remove(part.c_str());
      transport("reading the backup", ec);
    }
  }
  body.get().body().close();
  std::error_code fec;
  std::filesystem::rename(part, file, fec);
  if (fec) throw ctl_error(exit_bad_input, file + ": " + fec.message());
  out.bytes = std::filesystem::file_size(file, fec);
  return out;
}

transfer_result upload(const connection_options& c, const std::string& path,
                       const std::string& file) {
  http::request<http::file_body> req{http::verb::post, path, 11};
  beast::error_code ec;
  req.body().open(file.c_str(), beast::file_mode::scan, ec);
  if (ec) throw ctl_error(exit_bad_input, file + ": " + ec.message());
  prepare(req, c);
  req.set(http::field::content_type, "application/octet-stream");
  req.prepare_payload();
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  connect(stream, c);
  transfer_result out;
  out.bytes = req.body().size();
  http::serializer<true, http::file_body> sr(req);
  while (!sr.is_done()) {
    stream.expires_after(step_timeout);
    http::write_some(stream, sr, ec);
    if (ec) break;  // the server may answer early (a refusal): read it
  }
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  // A restore answers once the index is rebuilt: that may take long.
  stream.expires_after(std::chrono::hours(6));
  beast::error_code rec;
  http::read(stream, buffer, res, rec);
  if (rec) transport(ec ? "sending the backup" : "reading the answer", ec ? ec : rec);
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  return out;
}

}  // namespace quiver::ctl
