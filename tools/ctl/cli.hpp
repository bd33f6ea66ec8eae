#pragma once
// quiverctl's command line: options and positional words of one command, and
// the table and JSON output shared by every command.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tools/ctl/session.hpp"

namespace quiver::ctl {

class args {
 public:
  // Options in `valued` take a value (--name VALUE or --name=VALUE), those in
  // `flags` take none; the global options are always known. Anything else is a
  // usage error (ctl_error(exit_usage)).
  args(const std::vector<std::string>& argv, const std::set<std::string>& valued,
       const std::set<std::string>& flags);

  const std::vector<std::string>& positional() const { return positional_; }
  // The positional word at `i`, or a usage error naming it.
  const std::string& word(std::size_t i, const char* name) const;
  // At most `n` positional words, or a usage error.
  void at_most(std::size_t n) const;
  bool has(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback = {}) const;
  // An integer option within [lo, hi], or a usage error.
  long long number(const std::string& name, long long fallback, long long lo, long long hi) const;

  connection_options connection() const;  // --url, --key, --timeout, and the environment
  bool json() const { return get("output", "table") == "json"; }
  bool quiet() const { return has("quiet"); }

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
};

// Prints rows under a header, columns padded to their widest cell.
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);
// The server's JSON reply as the --output json result (one line).
void print_json(const std::string& body);
// A short rendering of a JSON value for a table cell.
std::string cell(const std::string& json, std::size_t max = 60);

}  // namespace quiver::ctl
