#include "matrix/text_checks.hpp"

#include <algorithm>
#include <cctype>

namespace quiver::matrix {

namespace {

// UTF-8 to code points; false on a malformed sequence.
bool decode(std::string_view s, std::u32string& out) {
  out.clear();
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (int k = 1; k < n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 2) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    out.push_back(cp);
    i += n;
  }
  return true;
}

bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }
// Characters a phone number is written with besides its digits.
bool phone_punct(char32_t c) {
  return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '+' || c == '/';
}

int digits_value(const std::u32string& t, std::size_t at, int n) {
  int v = 0;
  for (int i = 0; i < n; ++i) v = v * 10 + int(t[at + i] - '0');
  return v;
}

// Whether digits continue the number on either side of [b, e), across phone punctuation.
bool part_of_longer_number(const std::u32string& t, std::size_t b, std::size_t e) {
  for (std::size_t i = b; i-- > 0;) {
    if (is_digit(t[i])) return true;
    if (!phone_punct(t[i])) break;
  }
  for (std::size_t i = e; i < t.size(); ++i) {
    if (is_digit(t[i])) return true;
    if (!phone_punct(t[i])) break;
  }
  return false;
}

bool valid_ssn(int area, int group, int serial) {
  return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
}

// Whether an SSN keyword ends within `reach` code points before `at`.
bool keyword_before(const std::u32string& t, std::size_t at, std::size_t reach) {
  std::string window;
  for (std::size_t i = at > reach ? at - reach : 0; i < at; ++i)
    window.push_back(t[i] < 0x80 ? static_cast<char>(std::tolower(int(t[i]))) : '?');
  for (const char* k : {"ssn", "social security", "ss#", "ss #", "ss no"})
    if (window.find(k) != std::string::npos) return true;
  return false;
}

bool gsm_basic(char32_t c) {
  static const std::u32string basic =
      U"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
      U"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  return basic.find(c) != std::u32string::npos;
}

bool gsm_extension(char32_t c) {
  static const std::u32string ext = U"^{}\\[~]|€\f";
  return ext.find(c) != std::u32string::npos;
}

bool atext(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+/=?^_`{|}~-").find(c) != std::string_view::npos;
}

}  // namespace

bool count_code_points(std::string_view text, std::size_t& out) {
  std::u32string t;
  if (!decode(text, t)) return false;
  out = t.size();
  return true;
}

std::vector<span> find_ssns(std::string_view text) {
  std::u32string t;
  std::vector<span> out;
  if (!decode(text, t)) return out;
  for (std::size_t i = 0; i + 9 <= t.size(); ++i) {
    if (!is_digit(t[i]) || (i > 0 && is_digit(t[i - 1]))) continue;
    // 3-2-4 with one separator, or 9 bare digits.
    std::size_t end = 0;
    bool bare = false;
    auto digits = [&](std::size_t at, int n) {
      if (at + n > t.size()) return false;
      for (int k = 0; k < n; ++k)
        if (!is_digit(t[at + k])) return false;
      return true;
    };
    int area = 0, group = 0, serial = 0;
    if (digits(i, 3) && i + 11 <= t.size() && (t[i + 3] == '-' || t[i + 3] == ' ') &&
        t[i + 6] == t[i + 3] && digits(i + 4, 2) && digits(i + 7, 4)) {
      area = digits_value(t, i, 3), group = digits_value(t, i + 4, 2),
      serial = digits_value(t, i + 7, 4);
      end = i + 11;
    } else if (digits(i, 9)) {
      area = digits_value(t, i, 3), group = digits_value(t, i + 3, 2),
      serial = digits_value(t, i + 5, 4);
      end = i + 9;
      bare = true;
    } else {
      continue;
    }
    if (!valid_ssn(area, group, serial) || part_of_longer_number(t, i, end)) continue;
    if (bare && !keyword_before(t, i, 24)) continue;
    out.push_back({i, end});
    i = end - 1;
  }
  return out;
}

std::vector<span> find_placeholders(std::string_view text) {
  std::u32string t;
  std::vector<span> out;
  if (!decode(text, t)) return out;
  auto name_char = [](char32_t c) {
    return (c < 0x80 && (std::isalnum(int(c)) || c == '_' || c == '.' || c == '-'));
  };
  auto close_after = [&](std::size_t from, std::u32string_view close, bool names_only,
                         bool capitals) -> std::size_t {
    for (std::size_t j = from; j + close.size() <= t.size(); ++j) {
      if (t.compare(j, close.size(), close) == 0) return j == from ? 0 : j + close.size();
      if (t[j] == '\n') return 0;
      if (names_only && !(name_char(t[j]) || (!capitals && t[j] == ' '))) return 0;
      if (capitals &&
          !((t[j] >= 'A' && t[j] <= 'Z') || (t[j] >= '0' && t[j] <= '9') || t[j] == '_'))
        return 0;
      if (j - from > 64) return 0;
    }
    return 0;
  };
  struct form {
    std::u32string_view open, close;
    bool names_only, capitals;
  };
  static const form forms[] = {{U"{{", U"}}", false, false}, {U"${", U"}", true, false},
                               {U"[[", U"]]", false, false}, {U"<<", U">>", false, false},
                               {U"{", U"}", true, false},    {U"[", U"]", false, true},
                               {U"%", U"%", true, false}};
  for (std::size_t i = 0; i < t.size(); ++i) {
    for (const auto& f : forms) {
      if (t.compare(i, f.open.size(), f.open) != 0) continue;
      auto start = i + f.open.size();
      if (f.open == U"%" &&
          (start >= t.size() || !std::isalpha(int(t[start] < 0x80 ? t[start] : 0))))
        continue;
      auto end = close_after(start, f.close, f.names_only, f.capitals);
      if (end == 0) continue;
      if (f.open == U"[" && end - start < 3) continue;  // "[A]": a list marker, not a name
      if (f.open == U"{" || f.open == U"%") {
        // A lone word: "{name}" or "%name%", no spaces.
        bool word = true;
        for (auto j = start; j < end - f.close.size(); ++j) word = word && t[j] != ' ';
        if (!word) continue;
      }
      out.push_back({i, end});
      i = end - 1;
      break;
    }
  }
  return out;
}

sms_length measure_sms(std::string_view text) {
  std::u32string t;
  sms_length out;
  if (!decode(text, t)) {
    out.gsm7 = false;
    out.units = text.size();
  } else {
    for (auto c : t) {
      if (gsm_basic(c)) {
        out.units += 1;
      } else if (gsm_extension(c)) {
        out.units += 2;
      } else {
        out.gsm7 = false;
        break;
      }
    }
    if (!out.gsm7) {
      out.units = 0;
      for (auto c : t) out.units += c > 0xffff ? 2 : 1;
    }
  }
  std::size_t single = out.gsm7 ? 160 : 70, part = out.gsm7 ? 153 : 67;
  out.segments = out.units == 0 ? 0 : out.units <= single ? 1 : (out.units + part - 1) / part;
  return out;
}

std::string email_address_problem(std::string_view address) {
  auto a = address;
  auto lt = a.find('<');
  if (lt != std::string_view::npos) {
    if (a.back() != '>') return "a display-name address must end with '>'";
    a = a.substr(lt + 1, a.size() - lt - 2);
  }
  while (!a.empty() && a.front() == ' ') a.remove_prefix(1);
  while (!a.empty() && a.back() == ' ') a.remove_suffix(1);
  if (a.empty()) return "the address is empty";
  if (a.size() > 254) return "the address is longer than 254 characters";
  auto at = a.rfind('@');
  if (at == std::string_view::npos) return "the address has no '@'";
  auto local = a.substr(0, at), domain = a.substr(at + 1);
  if (local.empty() || local.size() > 64) return "the local part must be 1 to 64 characters";
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return "the local part has a leading, trailing or doubled dot";
  for (char c : local)
    if (c != '.' && !atext(c)) return std::string("the local part holds '") + c + "'";
  if (domain.empty() || domain.size() > 253) return "the domain must be 1 to 253 characters";
  std::size_t labels = 0, start = 0;
  std::string_view last;
  while (start <= domain.size()) {
    auto dot = domain.find('.', start);
    auto label = domain.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63) return "the domain has an empty or overlong label";
    if (label.front() == '-' || label.back() == '-')
      return "a domain label starts or ends with '-'";
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-')
        return std::string("the domain holds '") + c + "'";
    ++labels;
    last = label;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (labels < 2) return "the domain needs a top-level label (example.com, not example)";
  bool letters = last.size() >= 2 && std::all_of(last.begin(), last.end(), [](char c) {
                   return std::isalpha(static_cast<unsigned char>(c));
                 });
  if (!letters && last.rfind("xn--", 0) != 0)
    return "the top-level label must be letters (or an xn-- name)";
  return {};
}

}  // namespace quiver::matrix
