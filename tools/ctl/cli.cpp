#include "tools/ctl/cli.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace quiver::ctl {

namespace {

const std::set<std::string> global_valued = {"url", "key", "output", "timeout"};
const std::set<std::string> global_flags = {"quiet"};

}  // namespace

args::args(const std::vector<std::string>& argv, const std::set<std::string>& valued,
           const std::set<std::string>& flags) {
  bool only_words = false;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const auto& a = argv[i];
    if (only_words || a.size() < 3 || a.rfind("--", 0) != 0) {
      if (a == "--") {
        only_words = true;
        continue;
      }
      if (!only_words && a.size() > 1 && a[0] == '-' && !(a[1] >= '0' && a[1] <= '9'))
        throw ctl_error(exit_usage, "unknown option '" + a + "' (options are --long-names)");
      positional_.push_back(a);
      continue;
    }
    auto name = a.substr(2);
    std::string value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    if (valued.count(name) || global_valued.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argv.size()) throw ctl_error(exit_usage, "--" + name + " needs a value");
        value = argv[++i];
      }
      values_[name] = value;
    } else if (flags.count(name) || global_flags.count(name)) {
      if (inline_value) throw ctl_error(exit_usage, "--" + name + " takes no value");
      flags_.insert(name);
    } else {
      throw ctl_error(exit_usage, "unknown option --" + name + " (see --help)");
    }
  }
  auto output = get("output", "table");
  if (output != "table" && output != "json")
    throw ctl_error(exit_usage, "--output is table or json, not '" + output + "'");
}

const std::string& args::word(std::size_t i, const char* name) const {
  if (i >= positional_.size()) throw ctl_error(exit_usage, std::string("missing ") + name);
  return positional_[i];
}

void args::at_most(std::size_t n) const {
  if (positional_.size() > n)
    throw ctl_error(exit_usage, "unexpected argument '" + positional_[n] + "'");
}

bool args::has(const std::string& name) const {
  return flags_.count(name) > 0 || values_.count(name) > 0;
}

std::string args::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

long long args::number(const std::string& name, long long fallback, long long lo,
                       long long hi) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  long long v = 0;
  try {
    std::size_t used = 0;
    v = std::stoll(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw ctl_error(exit_usage, "--" + name + " must be an integer, not '" + it->second + "'");
  }
  if (v < lo || v > hi)
    throw ctl_error(exit_usage, "--" + name + " must be within " + std::to_string(lo) + ".." +
                                    std::to_string(hi));
  return v;
}

connection_options args::connection() const {
  connection_options c;
  if (const char* url = std::getenv("QUIVER_URL"); url && *url) c.url = url;
  if (const char* key = std::getenv("QUIVER_KEY"); key && *key) c.key = key;
  c.url = get("url", c.url);
  c.key = get("key", c.key);
  c.timeout = std::chrono::seconds(number("timeout", 60, 1, 86400));
  return c;
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (auto& row : rows)
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], row[c].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t c = 0; c < width.size(); ++c) {
      auto v = c < cells.size() ? cells[c] : std::string();
      out += v;
      if (c + 1 < width.size()) out += std::string(width[c] - v.size() + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::printf("%s\n", out.c_str());
  };
  line(header);
  for (auto& row : rows) line(row);
}

void print_json(const std::string& body) {
  std::fwrite(body.data(), 1, body.size(), stdout);
  if (body.empty() || body.back() != '\n') std::fputc('\n', stdout);
}

std::string cell(const std::string& json, std::size_t max) {
  if (json.size() <= max) return json;
  auto cut = max - 3;
  while (cut > 0 && (static_cast<unsigned char>(json[cut]) & 0xC0) == 0x80) --cut;
  return json.substr(0, cut) + "...";
}

}  // namespace quiver::ctl
