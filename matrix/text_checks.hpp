#pragma once
// Checks on outgoing text (the seed's staffing workflows draft emails and SMS
// to workers): US Social Security numbers, unresolved template placeholders,
// SMS length by encoding, and email address syntax. Plain functions over UTF-8;
// positions are code-point offsets [begin, end) into the text.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace quiver::matrix {

struct span {
  std::size_t begin = 0, end = 0;
  friend bool operator==(const span& a, const span& b) {
    return a.begin == b.begin && a.end == b.end;
  }
};

// SSNs in the text: "123-45-6789" or "123 45 6789" (one separator throughout),
// or nine bare digits when "SSN", "social security" or "SS#" comes shortly
// before. Never a phone number: a match with digits next to it (across phone
// punctuation: spaces, - . ( ) + /) is part of a longer number, and area 000,
// 666 or 9xx, group 00 or serial 0000 is not an SSN.
std::vector<span> find_ssns(std::string_view text);

// Template placeholders left in the text: {{name}}, ${name}, {name}, [[name]],
// [NAME] (capitals), %name%, <<name>>.
std::vector<span> find_placeholders(std::string_view text);

// How an SMS of this text is sent: GSM 03.38 (7-bit; its extension characters
// ^ { } \ [ ] ~ | € and form feed count twice) when every character has a code
// there, else UCS-2 (UTF-16 units). One segment holds 160 GSM-7 or 70 UCS-2
// units; a longer message is split into segments of 153 or 67.
struct sms_length {
  bool gsm7 = true;
  std::size_t units = 0;  // septets or UTF-16 units
  std::size_t segments = 0;
};
sms_length measure_sms(std::string_view text);

// Why `address` is not a usable email address (addr-spec: a dot-atom local
// part of at most 64 characters, a domain of DNS labels with a top-level label
// of letters, at most 254 in all; "Name <addr>" is accepted), or "".
std::string email_address_problem(std::string_view address);

// The number of code points; false for text that is not UTF-8.
bool count_code_points(std::string_view text, std::size_t& out);

}  // namespace quiver::matrix
