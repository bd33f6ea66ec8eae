#pragma once
// The validators of POST /v1/validate/sms, /email and /fill: each request body
// parsed and checked, and a report {"ok", "problems": [{"code", "message",
// "field"?, "span"?}], ...}. Codes are stable snake_case strings (API.md).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.hpp"
#include "matrix/text_checks.hpp"

namespace quiver::matrix {

struct problem {
  std::string code;
  std::string message;
  std::string field;          // empty: the whole request
  std::optional<span> where;  // in `field`'s text
};

struct report {
  std::vector<problem> problems;
  std::string extra;  // more members of the answer, as JSON text ("k":v,...), or ""
  bool ok() const { return problems.empty(); }
};
std::string render_report(const report& r);

// Limits (API.md): an email's subject and body, in characters.
inline constexpr std::size_t max_subject_chars = 200;
inline constexpr std::size_t max_body_chars = 50000;
// Most ids a fill proposal may name, and the most slots it may have.
inline constexpr std::size_t max_fill_ids = 1000;

struct sms_request {
  std::string text;
  std::size_t max_segments = 1;
};
struct email_request {
  std::string to, subject, body;
};
struct fill_request {
  std::string index;
  std::size_t slots = 0;
  std::vector<std::string> ids;
  std::vector<std::string> exclude_ids;
  std::vector<std::string> required_skills;
};

// JSON bodies; invalid_json or invalid_argument (unknown or ill-typed fields).
expected<sms_request> parse_sms_request(const std::string& json);
expected<email_request> parse_email_request(const std::string& json);
expected<fill_request> parse_fill_request(const std::string& json);

report validate_sms(const sms_request& r);
report validate_email(const email_request& r);
// `stored`: each distinct proposed id's stored metadata (JSON text, "" when it has
// none); an id absent from the map does not exist in the index.
report validate_fill(const fill_request& r, const std::map<std::string, std::string>& stored);

// POST /v1/matrix/outreach: a message to one record of an index, drafted from
// templates and validated before it is returned.
struct outreach_request {
  std::string index, id;
  std::string channel;  // "sms" or "email"
  std::string templ;    // the SMS text or the email body
  std::string subject;  // email
  std::string to;       // email; empty: the record's metadata "email"
  std::size_t max_segments = 1;
};
expected<outreach_request> parse_outreach_request(const std::string& json);
// The draft ("draft": {"channel", "text"} or {"channel", "to", "subject",
// "body"}) with the SMS or email validator's report on it.
report draft_outreach(const outreach_request& r, const std::string& metadata_json);

// Outreach: a template's {{field}} placeholders filled from a record's
// metadata (strings as they are, numbers as written, arrays of strings joined
// by ", "); a field the metadata lacks is left as it is (and then reported as
// an unresolved placeholder).
std::string fill_template(const std::string& templ, const std::string& metadata_json);

}  // namespace quiver::matrix
