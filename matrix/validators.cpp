#include "matrix/validators.hpp"

#include <set>

#include "common/detail/json_writer.hpp"
#include "matrix/detail/json_fields.hpp"

namespace quiver::matrix {

namespace {

using json_fields::bad;
using json_fields::each_field;
using json_fields::element;
using json_fields::read_count;
using json_fields::read_string;
using json_fields::read_strings;
using json_fields::unknown;

// Text problems shared by SMS and email: not UTF-8, SSNs, placeholders.
void text_problems(const std::string& text, const std::string& field, report& r) {
  std::size_t n = 0;
  if (!count_code_points(text, n)) {
    r.problems.push_back({"invalid_text", field + " is not valid UTF-8", field, std::nullopt});
    return;
  }
  for (auto s : find_ssns(text))
    r.problems.push_back({"pii_ssn", "what looks like a US Social Security number", field, s});
  for (auto s : find_placeholders(text))
    r.problems.push_back(
        {"unresolved_placeholder", "a template placeholder was not filled in", field, s});
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

std::string render_report(const report& r) {
  detail::json_writer w;
  w.begin_object();
  w.key("ok");
  w.boolean(r.ok());
  w.key("problems");
  w.begin_array();
  for (const auto& p : r.problems) {
    w.begin_object();
    w.key("code");
    w.string(p.code);
    w.key("message");
    w.string(p.message);
    if (!p.field.empty()) {
      w.key("field");
      w.string(p.field);
    }
    if (p.where) {
      w.key("span");
      w.begin_array();
      w.uinteger(p.where->begin);
      w.uinteger(p.where->end);
      w.end_array();
    }
    w.end_object();
  }
  w.end_array();
  w.end_object();
  auto out = w.take();
  if (!r.extra.empty()) out.insert(out.size() - 1, "," + r.extra);
  return out;
}

expected<sms_request> parse_sms_request(const std::string& json) {
  sms_request r;
  bool text = false;
  auto st = each_field(json, [&](const std::string& key, element v) {
    if (key == "text") return text = true, read_string(v, key, r.text);
    if (key == "max_segments") return read_count(v, key, 1, 10, r.max_segments);
    return unknown(key);
  });
  if (!st.ok()) return st;
  if (!text) return bad("missing field 'text'");
  return r;
}

expected<email_request> parse_email_request(const std::string& json) {
  email_request r;
  std::set<std::string> seen;
  auto st = each_field(json, [&](const std::string& key, element v) {
    seen.insert(key);
    if (key == "to") return read_string(v, key, r.to);
    if (key == "subject") return read_string(v, key, r.subject);
    if (key == "body") return read_string(v, key, r.body);
    return unknown(key);
  });
  if (!st.ok()) return st;
  for (const char* k : {"to", "subject", "body"})
    if (!seen.count(k)) return bad(std::string("missing field '") + k + "'");
  return r;
}

expected<fill_request> parse_fill_request(const std::string& json) {
  fill_request r;
  std::set<std::string> seen;
  auto st = each_field(json, [&](const std::string& key, element v) {
    seen.insert(key);
    if (key == "index") return read_string(v, key, r.index);
    if (key == "slots") return read_count(v, key, 1, max_fill_ids, r.slots);
    if (key == "ids") return read_strings(v, key, r.ids, max_fill_ids);
    if (key == "exclude_ids") return read_strings(v, key, r.exclude_ids, 100000);
    if (key == "required_skills") return read_strings(v, key, r.required_skills, 1000);
    return unknown(key);
  });
  if (!st.ok()) return st;
  for (const char* k : {"index", "slots", "ids"})
    if (!seen.count(k)) return bad(std::string("missing field '") + k + "'");
  return r;
}

report validate_sms(const sms_request& r) {
  report out;
  if (r.text.empty()) out.problems.push_back({"empty", "the message is empty", "text", {}});
  text_problems(r.text, "text", out);
  auto m = measure_sms(r.text);
  if (m.segments > r.max_segments) {
    auto limit = m.gsm7 ? 160 : 70;
    out.problems.push_back(
        {"too_long",
         std::to_string(m.units) + (m.gsm7 ? " GSM-7 characters" : " UCS-2 characters") + " need " +
             std::to_string(m.segments) + " segments; " + std::to_string(r.max_segments) +
             " allowed (" + std::to_string(limit) + " fit in one)",
         "text",
         {}});
  }
  out.extra = std::string("\"encoding\":\"") + (m.gsm7 ? "gsm7" : "ucs2") +
              "\",\"length\":" + std::to_string(m.units) +
              ",\"segments\":" + std::to_string(m.segments);
  return out;
}

report validate_email(const email_request& r) {
  report out;
  std::size_t start = 0;
  std::size_t addresses = 0;
  while (start <= r.to.size()) {
    auto comma = r.to.find(',', start);
    auto one = r.to.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (auto why = email_address_problem(one); !why.empty())
      out.problems.push_back({"invalid_address", why + ": '" + one + "'", "to", {}});
    ++addresses;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (r.subject.empty()) out.problems.push_back({"empty", "the subject is empty", "subject", {}});
  if (r.subject.find_first_of("\r\n") != std::string::npos)
    out.problems.push_back(
        {"invalid_subject", "the subject holds a line break (header injection)", "subject", {}});
  if (r.body.empty()) out.problems.push_back({"empty", "the body is empty", "body", {}});
  for (auto [field, text, max] : {std::tuple<const char*, const std::string*, std::size_t>{
                                      "subject", &r.subject, max_subject_chars},
                                  {"body", &r.body, max_body_chars}}) {
    std::size_t n = 0;
    if (count_code_points(*text, n) && n > max)
      out.problems.push_back({"too_long",
                              std::string(field) + " has " + std::to_string(n) +
                                  " characters; at most " + std::to_string(max),
                              field,
                              {}});
    text_problems(*text, field, out);
  }
  out.extra = "\"recipients\":" + std::to_string(addresses);
  return out;
}

report validate_fill(const fill_request& r, const std::map<std::string, std::string>& stored) {
  report out;
  if (r.ids.size() > r.slots)
    out.problems.push_back(
        {"too_many",
         std::to_string(r.ids.size()) + " ids for " + std::to_string(r.slots) + " slots",
         "ids",
         {}});
  std::set<std::string> seen;
  simdjson::dom::parser parser;
  for (const auto& id : r.ids) {
    if (!seen.insert(id).second) {
      out.problems.push_back({"duplicate_id", "'" + id + "' is proposed twice", "ids", {}});
      continue;
    }
    if (has(r.exclude_ids, id))
      out.problems.push_back({"excluded_id", "'" + id + "' is excluded", "ids", {}});
    auto it = stored.find(id);
    if (it == stored.end()) {
      out.problems.push_back(
          {"unknown_id", "'" + id + "' is not in index '" + r.index + "'", "ids", {}});
      continue;
    }
    element meta;
    std::string_view status_value;
    bool parsed = !it->second.empty() && !parser.parse(it->second).get(meta);
    if (!parsed || meta["status"].get(status_value) || status_value != "active")
      out.problems.push_back({"inactive",
                              "'" + id + "' is not active (metadata status is not \"active\")",
                              "ids",
                              {}});
    if (r.required_skills.empty()) continue;
    std::vector<std::string> skills;
    simdjson::dom::array arr;
    if (parsed && !meta["skills"].get(arr))
      for (auto s : arr) {
        std::string_view v;
        if (!s.get(v)) skills.emplace_back(v);
      }
    for (const auto& skill : r.required_skills)
      if (!has(skills, skill))
        out.problems.push_back(
            {"missing_skill", "'" + id + "' lacks the skill '" + skill + "'", "ids", {}});
  }
  out.extra = "\"checked\":" + std::to_string(seen.size());
  return out;
}

expected<outreach_request> parse_outreach_request(const std::string& json) {
  outreach_request r;
  std::set<std::string> seen;
  auto st = each_field(json, [&](const std::string& key, element v) {
    seen.insert(key);
    if (key == "index") return read_string(v, key, r.index);
    if (key == "id") return read_string(v, key, r.id);
    if (key == "channel") return read_string(v, key, r.channel);
    if (key == "template") return read_string(v, key, r.templ);
    if (key == "subject") return read_string(v, key, r.subject);
    if (key == "to") return read_string(v, key, r.to);
    if (key == "max_segments") return read_count(v, key, 1, 10, r.max_segments);
    return unknown(key);
  });
  if (!st.ok()) return st;
  for (const char* k : {"index", "id", "channel", "template"})
    if (!seen.count(k)) return bad(std::string("missing field '") + k + "'");
  if (r.channel != "sms" && r.channel != "email") return bad("'channel' is \"sms\" or \"email\"");
  if (r.channel == "sms" && (seen.count("subject") || seen.count("to")))
    return bad("an SMS has no 'subject' or 'to'");
  if (r.channel == "email" && !seen.count("subject")) return bad("missing field 'subject'");
  return r;
}

report draft_outreach(const outreach_request& r, const std::string& metadata_json) {
  detail::json_writer w;
  w.begin_object();
  w.key("channel");
  w.string(r.channel);
  report out;
  if (r.channel == "sms") {
    auto text = fill_template(r.templ, metadata_json);
    w.key("text");
    w.string(text);
    out = validate_sms({text, r.max_segments});
  } else {
    std::string to = r.to;
    if (to.empty() && !metadata_json.empty()) {
      simdjson::dom::parser parser;
      element meta;
      std::string_view email;
      if (!parser.parse(metadata_json).get(meta) && !meta["email"].get(email))
        to = std::string(email);
    }
    email_request e{to, fill_template(r.subject, metadata_json),
                    fill_template(r.templ, metadata_json)};
    for (auto [key, value] : {std::pair<const char*, const std::string*>{"to", &e.to},
                              {"subject", &e.subject},
                              {"body", &e.body}}) {
      w.key(key);
      w.string(*value);
    }
    out = validate_email(e);
  }
  w.end_object();
  out.extra = "\"draft\":" + w.take() + (out.extra.empty() ? "" : "," + out.extra);
  return out;
}

std::string fill_template(const std::string& templ, const std::string& metadata_json) {
  simdjson::dom::parser parser;
  element meta;
  bool have = !metadata_json.empty() && !parser.parse(metadata_json).get(meta) && meta.is_object();
  std::string out;
  std::size_t at = 0;
  while (at < templ.size()) {
    auto open = templ.find("{{", at);
    if (open == std::string::npos) break;
    auto close = templ.find("}}", open + 2);
    if (close == std::string::npos) break;
    out.append(templ, at, open - at);
    std::string key = templ.substr(open + 2, close - open - 2);
    while (!key.empty() && key.front() == ' ') key.erase(key.begin());
    while (!key.empty() && key.back() == ' ') key.pop_back();
    element v;
    std::string value;
    bool found = have && !meta[key].get(v);
    if (found && v.is_string()) {
      value = std::string(v.get_string().value());
    } else if (found && v.is_array()) {
      for (auto x : v.get_array()) {
        if (!value.empty()) value += ", ";
        value += x.is_string() ? std::string(x.get_string().value()) : simdjson::to_string(x);
      }
    } else if (found && !v.is_null() && !v.is_object()) {
      value = simdjson::to_string(v);
    } else {
      found = false;
    }
    out += found ? value : templ.substr(open, close + 2 - open);
    at = close + 2;
  }
  out.append(templ, at, std::string::npos);
  return out;
}

}  // namespace quiver::matrix
