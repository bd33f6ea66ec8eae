// The workflow tier's plain checks: SSNs never confused with phone numbers,
// placeholders, SMS length by encoding, email syntax, and the validators.

#include <gtest/gtest.h>

#include "matrix/hash_embedder.hpp"
#include "matrix/text_checks.hpp"
#include "matrix/validators.hpp"

namespace quiver::matrix {
namespace {

TEST(MatrixSsn, FindsSsnsInTheirWrittenForms) {
  for (const char* text : {"SSN 123-45-6789", "my number is 123 45 6789.", "123-45-6789",
                           "(ssn: 234-56-7890)", "SSN#: 345678901", "social security 456789012",
                           "id 123-45-6789, thanks", "x\n123-45-6789\ny"}) {
    EXPECT_EQ(find_ssns(text).size(), 1u) << text;
  }
  auto s = find_ssns("né 123-45-6789");  // offsets in code points
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0], (span{3, 14}));
}

TEST(MatrixSsn, NeverAPhoneNumber) {
  for (const char* text : {
           "Call (555) 123-4567 today",
           "Call 555-123-4567",
           "555.123.4567",
           "+1 555 123 4567",
           "1-800-555-1234",
           "5551234567",
           "+15551234567",
           "+44 20 7946 0958",
           "+33 1 23 45 67 89",
           "612 345 678",
           "612345678",           // nine bare digits without an SSN word
           "tel: 1-123-45-6789",  // SSN-shaped inside a longer number
           "+1 123-45-6789",
           "123-45-6789-0",
           "555-123-45-6789",
           "ext. 0123 45 6789 99",
           "000-12-3456",  // area 000 is never issued
           "666-12-3456",
           "912-34-5678",  // 9xx: not an SSN
           "123-00-4567",
           "123-45-0000",
           "123-45 6789",  // mixed separators
           "Order 12345678901234",
           "PIN 1234, code 56789",
       }) {
    EXPECT_TRUE(find_ssns(text).empty()) << text;
  }
}

TEST(MatrixPlaceholders, FindsEveryForm) {
  for (const char* text : {"Hi {{first_name}}!", "Hi ${name}", "Hi {name}", "Hi [[name]]",
                           "Hi [FIRST_NAME]", "Hi %name%", "Hi <<name>>", "Hi {{ first name }}"}) {
    EXPECT_EQ(find_placeholders(text).size(), 1u) << text;
  }
  for (const char* text : {"50% off, 20% more", "a {b c} d", "[A] item", "x < y > z", "price: $5",
                           "map {} empty", "Hi Ana!"}) {
    EXPECT_TRUE(find_placeholders(text).empty()) << text;
  }
  EXPECT_EQ(find_placeholders("Hi {{a}}"), (std::vector<span>{{3, 8}}));
}

TEST(MatrixSms, CountsByEncoding) {
  auto m = measure_sms(std::string(160, 'a'));
  EXPECT_TRUE(m.gsm7);
  EXPECT_EQ(m.units, 160u);
  EXPECT_EQ(m.segments, 1u);
  m = measure_sms(std::string(161, 'a'));
  EXPECT_EQ(m.segments, 2u);
  m = measure_sms(std::string(80, '['));  // extension characters count twice
  EXPECT_TRUE(m.gsm7);
  EXPECT_EQ(m.units, 160u);
  EXPECT_EQ(m.segments, 1u);
  m = measure_sms(std::string(79, 'a') + "€");
  EXPECT_EQ(m.units, 81u);
  m = measure_sms("héllo è ñ Ä £ Δ");  // GSM-7 has these
  EXPECT_TRUE(m.gsm7);
  EXPECT_EQ(m.units, 15u);
  std::string ucs(70, 'a');
  ucs += "\xe2\x80\x94";  // an em dash: not GSM-7
  m = measure_sms(ucs);
  EXPECT_FALSE(m.gsm7);
  EXPECT_EQ(m.units, 71u);
  EXPECT_EQ(m.segments, 2u);
  m = measure_sms("\xf0\x9f\x99\x82");  // an emoji: two UTF-16 units
  EXPECT_FALSE(m.gsm7);
  EXPECT_EQ(m.units, 2u);
  EXPECT_EQ(measure_sms("").segments, 0u);
}

TEST(MatrixEmail, AddressSyntax) {
  for (const char* ok :
       {"ana@example.com", "a.b+tag@mail.example.co.uk", "Ana Diaz <ana@example.org>",
        "x_y-z@sub-domain.example.io", "o'brien@example.ie", "a@xn--bcher-kva.xn--p1ai"}) {
    EXPECT_EQ(email_address_problem(ok), "") << ok;
  }
  for (const char* bad :
       {"", "ana", "ana@", "@example.com", "ana@example", "ana..b@example.com", ".ana@example.com",
        "ana@-example.com", "ana@exa_mple.com", "ana@example.c0m", "a na@example.com",
        "ana@example..com", "Ana <ana@example.com"}) {
    EXPECT_NE(email_address_problem(bad), "") << bad;
  }
  EXPECT_NE(email_address_problem(std::string(65, 'a') + "@example.com"), "");
}

std::vector<std::string> codes(const report& r) {
  std::vector<std::string> out;
  for (auto& p : r.problems) out.push_back(p.code);
  return out;
}

TEST(MatrixValidators, Sms) {
  EXPECT_TRUE(validate_sms({"Shift at 9am tomorrow, call 555-123-4567 to confirm", 1}).ok());
  auto r = validate_sms({"Hi {{name}}, your SSN 123-45-6789 is on file", 1});
  EXPECT_EQ(codes(r), (std::vector<std::string>{"pii_ssn", "unresolved_placeholder"}));
  EXPECT_EQ(codes(validate_sms({std::string(161, 'x'), 1})),
            (std::vector<std::string>{"too_long"}));
  EXPECT_TRUE(validate_sms({std::string(161, 'x'), 2}).ok());
  EXPECT_EQ(codes(validate_sms({"", 1})), (std::vector<std::string>{"empty"}));
  EXPECT_NE(render_report(r).find("\"span\":[3,11]"), std::string::npos);
  EXPECT_EQ(render_report(validate_sms({"ok", 1})),
            R"({"ok":true,"problems":[],"encoding":"gsm7","length":2,"segments":1})");
}

TEST(MatrixValidators, Email) {
  EXPECT_TRUE(
      validate_email({"ana@example.com", "Shift offer", "Hello Ana, a shift is open."}).ok());
  auto r = validate_email({"ana@example", "Hi\r\nBcc: x@y.z", "SSN 123-45-6789 {{x}}"});
  EXPECT_EQ(codes(r), (std::vector<std::string>{"invalid_address", "invalid_subject", "pii_ssn",
                                                "unresolved_placeholder"}));
  r = validate_email({"a@example.com, b@@example.com", std::string(201, 's'), ""});
  EXPECT_EQ(codes(r), (std::vector<std::string>{"invalid_address", "empty", "too_long"}));
}

TEST(MatrixValidators, Fill) {
  std::map<std::string, std::string> stored = {
      {"w1", R"({"status":"active","skills":["forklift","osha"]})"},
      {"w2", R"({"status":"inactive","skills":["forklift"]})"},
      {"w3", R"({"status":"active","skills":["osha"]})"},
      {"w4", ""},
  };
  fill_request req{"workers", 3, {"w1", "w3"}, {}, {"osha"}};
  EXPECT_TRUE(validate_fill(req, stored).ok());
  req = {"workers", 2, {"w1", "w2", "w2", "w9", "w4"}, {"w1"}, {"forklift"}};
  EXPECT_EQ(codes(validate_fill(req, stored)),
            (std::vector<std::string>{"too_many", "excluded_id", "inactive", "duplicate_id",
                                      "unknown_id", "inactive", "missing_skill"}));
}

TEST(MatrixValidators, ParsingIsStrict) {
  EXPECT_TRUE(parse_sms_request(R"({"text":"hi","max_segments":2})"));
  EXPECT_FALSE(parse_sms_request(R"({"txt":"hi"})"));
  EXPECT_FALSE(parse_sms_request(R"({"text":1})"));
  EXPECT_FALSE(parse_sms_request("not json"));
  EXPECT_FALSE(parse_email_request(R"({"to":"a@b.co","subject":"s"})"));
  EXPECT_FALSE(parse_fill_request(R"({"index":"x","slots":0,"ids":[]})"));
  auto f = parse_fill_request(R"({"index":"x","slots":2,"ids":["a"],"required_skills":["s"]})");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->required_skills, (std::vector<std::string>{"s"}));
}

TEST(MatrixOutreach, FillsPlaceholdersFromMetadata) {
  auto meta = R"({"name":"Ana","skills":["forklift","osha"],"rate":21.5,"city":"Austin"})";
  EXPECT_EQ(fill_template("Hi {{name}} ({{ skills }}) in {{city}} at ${{rate}}/h", meta),
            "Hi Ana (forklift, osha) in Austin at $21.5/h");
  EXPECT_EQ(fill_template("Hi {{nickname}}", meta), "Hi {{nickname}}");
  EXPECT_EQ(fill_template("Hi {{name}}", ""), "Hi {{name}}");
  EXPECT_EQ(fill_template("no placeholders {", meta), "no placeholders {");
}

TEST(MatrixOutreach, DraftsAndValidates) {
  auto meta = R"({"name":"Ana","email":"ana@example.com","phone":"555-123-4567"})";
  auto r = parse_outreach_request(
      R"({"index":"w","id":"1","channel":"sms","template":"Hi {{name}}, reply to {{phone}}"})");
  ASSERT_TRUE(r);
  auto d = draft_outreach(*r, meta);
  EXPECT_TRUE(d.ok());
  EXPECT_NE(
      render_report(d).find(R"("draft":{"channel":"sms","text":"Hi Ana, reply to 555-123-4567"})"),
      std::string::npos);
  r = parse_outreach_request(
      R"({"index":"w","id":"1","channel":"email","subject":"Shift for {{name}}","template":"Hi {{name}} {{ssn}}"})");
  ASSERT_TRUE(r);
  d = draft_outreach(*r, meta);
  EXPECT_EQ(codes(d), (std::vector<std::string>{"unresolved_placeholder"}));
  EXPECT_NE(render_report(d).find(R"("to":"ana@example.com","subject":"Shift for Ana")"),
            std::string::npos);
  d = draft_outreach(*r, "{}");
  EXPECT_EQ(codes(d)[0], "invalid_address");
  EXPECT_FALSE(parse_outreach_request(R"({"index":"w","id":"1","channel":"fax","template":"x"})"));
  EXPECT_FALSE(
      parse_outreach_request(R"({"index":"w","id":"1","channel":"email","template":"x"})"));
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0;
  for (std::size_t i = 0; i < a.size(); ++i) dot += double(a[i]) * b[i];
  return dot;  // both are normalized
}

TEST(MatrixEmbedder, DeterministicNormalizedAndNearForSharedWords) {
  hash_embedder e(256);
  auto a = e.embed("Forklift operator, Austin TX");
  auto a2 = hash_embedder(256).embed("forklift OPERATOR austin tx");
  auto b = e.embed("forklift driver in Austin");
  auto c = e.embed("Registered nurse, night shift, Boston");
  ASSERT_TRUE(a && a2 && b && c);
  EXPECT_EQ(*a, *a2);  // case-folded, punctuation ignored
  double norm = 0;
  for (float x : *a) norm += double(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  EXPECT_GT(cosine(*a, *b), cosine(*a, *c) + 0.2);
  // The hash is part of the contract: one word's vector has its features at
  // fixed places (FNV-1a-64 of "w" + word, and of its character n-grams).
  auto one = e.embed("a");
  ASSERT_TRUE(one);
  int nonzero = 0;
  for (float x : *one) nonzero += x != 0;
  EXPECT_EQ(nonzero, 2);  // "w"+"a" and "c"+"<a>" (a 3-gram); no 4- or 5-grams
  EXPECT_FALSE(e.embed("  ,.;  "));
  EXPECT_FALSE(e.embed("\xff"));
  EXPECT_EQ(hash_embedder().dimension(), 768u);
}

}  // namespace
}  // namespace quiver::matrix
