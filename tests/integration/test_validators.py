"""The workflow checks (API.md "Workflow checks") against a real server: SMS
and email drafts (SSNs flagged, phone numbers in every common format never),
fill proposals checked against stored metadata, outreach drafted from a
record and validated."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from quiver_server import QuiverServer  # noqa: E402

PHONES = [
    "(555) 123-4567", "555-123-4567", "555.123.4567", "555 123 4567", "+1 555 123 4567",
    "+1-555-123-4567", "1-800-555-1234", "1 (800) 555-1234", "5551234567", "+15551234567",
    "+44 20 7946 0958", "+44 7700 900123", "+33 1 23 45 67 89", "+49 30 12345678",
    "+34 612 345 678", "612 345 678", "612345678", "+61 2 9876 5432", "0207 946 0958",
    "555-123-4567 ext. 89", "tel: 1-123-45-6789", "+1 123-45-6789", "800-12-34567",
]
SSNS = ["123-45-6789", "123 45 6789", "SSN: 234567890", "social security 345-67-8901"]


class ValidatorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = QuiverServer()
        st, _, body = cls.srv.request("POST", "/v1/indexes", {"name": "workers", "dimension": 3})
        assert st == 201, body
        items = [
            {"id": "w1", "vector": [1, 0, 0], "metadata": {"name": "Ana", "status": "active",
                                                           "skills": ["forklift", "osha"],
                                                           "email": "ana@example.com",
                                                           "phone": "(555) 123-4567"}},
            {"id": "w2", "vector": [0, 1, 0], "metadata": {"name": "Bo", "status": "inactive",
                                                           "skills": ["forklift"]}},
            {"id": "w3", "vector": [0, 0, 1]},
        ]
        st, _, body = cls.srv.request("POST", "/v1/indexes/workers/vectors", {"items": items})
        assert st == 200, body

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def check(self, path, body, status=200):
        st, _, out = self.srv.request("POST", path, body)
        self.assertEqual(st, status, out)
        return out

    def codes(self, verdict):
        return [p["code"] for p in verdict["problems"]]

    def test_sms_phone_numbers_never_trip_the_ssn_guard(self):
        for phone in PHONES:
            v = self.check("/v1/validate/sms", {"text": "Shift at 9am. Call %s to confirm." % phone})
            self.assertTrue(v["ok"], (phone, v))
        for ssn in SSNS:
            v = self.check("/v1/validate/sms", {"text": "Your %s is on file" % ssn})
            self.assertEqual(self.codes(v), ["pii_ssn"], ssn)
            self.assertEqual(v["problems"][0]["field"], "text")

    def test_sms_length_and_placeholders(self):
        v = self.check("/v1/validate/sms", {"text": "x" * 160})
        self.assertEqual((v["ok"], v["encoding"], v["length"], v["segments"]), (True, "gsm7", 160, 1))
        v = self.check("/v1/validate/sms", {"text": "[" * 81})
        self.assertEqual((self.codes(v), v["length"]), (["too_long"], 162))
        v = self.check("/v1/validate/sms", {"text": "caf\u00e9 \u2014 " + "x" * 65})
        self.assertEqual((v["encoding"], v["length"], self.codes(v)), ("ucs2", 72, ["too_long"]))
        v = self.check("/v1/validate/sms", {"text": "y" * 300, "max_segments": 2})
        self.assertTrue(v["ok"], v)
        v = self.check("/v1/validate/sms", {"text": "Hi {{first_name}}, see you"})
        self.assertEqual(v["problems"][0], {"code": "unresolved_placeholder", "field": "text",
                                            "message": "a template placeholder was not filled in",
                                            "span": [3, 17]})
        for bad in ({}, {"text": 5}, {"text": "x", "extra": 1}, {"text": "x", "max_segments": 0}):
            self.assertEqual(self.check("/v1/validate/sms", bad, 400)["error"]["code"],
                             "invalid_argument", bad)
        st, _, out = self.srv.request("POST", "/v1/validate/sms", "{", headers={"Content-Type": "application/json"})
        self.assertEqual((st, out["error"]["code"]), (400, "invalid_json"))

    def test_email(self):
        v = self.check("/v1/validate/email", {"to": "Ana <ana@example.com>", "subject": "Shift",
                                              "body": "Call (555) 123-4567."})
        self.assertTrue(v["ok"], v)
        v = self.check("/v1/validate/email", {"to": "ana@localhost, bo@example..com",
                                              "subject": "Hi\nBcc: all@example.com",
                                              "body": "SSN 123-45-6789"})
        self.assertEqual(self.codes(v), ["invalid_address", "invalid_address", "invalid_subject",
                                         "pii_ssn"])
        v = self.check("/v1/validate/email", {"to": "a@example.com", "subject": "s" * 201,
                                              "body": "b" * 50001})
        self.assertEqual(self.codes(v), ["too_long", "too_long"])

    def test_fill(self):
        v = self.check("/v1/validate/fill", {"index": "workers", "slots": 1, "ids": ["w1"],
                                             "required_skills": ["osha"]})
        self.assertTrue(v["ok"], v)
        v = self.check("/v1/validate/fill", {"index": "workers", "slots": 2,
                                             "ids": ["w1", "w2", "w2", "w3", "w9"],
                                             "exclude_ids": ["w1"], "required_skills": ["osha"]})
        self.assertEqual(self.codes(v), ["too_many", "excluded_id", "inactive", "missing_skill",
                                         "duplicate_id", "inactive", "missing_skill", "unknown_id"])
        self.assertEqual(v["checked"], 4)
        out = self.check("/v1/validate/fill", {"index": "nope", "slots": 1, "ids": ["a"]}, 404)
        self.assertEqual(out["error"]["code"], "index_not_found")

    def test_embed_then_search_by_text(self):
        docs = {"d1": "forklift operator, warehouse, Austin TX",
                "d2": "registered nurse, night shift, Boston",
                "d3": "line cook and prep cook, Chicago restaurant",
                "d4": "CDL truck driver, long haul, Dallas"}
        out = self.check("/v1/embed", {"texts": list(docs.values()), "dimension": 64})
        self.assertEqual((out["dimension"], out["embedder"], len(out["vectors"])), (64, "hash-v1", 4))
        again = self.check("/v1/embed", {"texts": [docs["d1"]], "dimension": 64})
        self.assertEqual(again["vectors"][0], out["vectors"][0])  # deterministic
        st, _, body = self.srv.request("POST", "/v1/indexes", {"name": "texts", "dimension": 64})
        self.assertEqual(st, 201, body)
        items = [{"id": k, "vector": v} for k, v in zip(docs, out["vectors"])]
        self.assertEqual(self.srv.request("POST", "/v1/indexes/texts/vectors", {"items": items})[0], 200)
        for query, want in (("warehouse forklift jobs in Austin", "d1"), ("nurse Boston nights", "d2"),
                            ("cook Chicago", "d3"), ("truck driver Dallas", "d4")):
            q = self.check("/v1/embed", {"texts": [query], "dimension": 64})["vectors"][0]
            hits = self.check("/v1/indexes/texts/search", {"vector": q, "k": 4})["results"]
            self.assertEqual(hits[0]["id"], want, query)
        self.assertEqual(self.check("/v1/embed", {"texts": ["..."]}, 400)["error"]["details"]["index"], 0)
        self.check("/v1/embed", {"texts": ["a"], "embedder": "openai"}, 400)
        self.check("/v1/embed", {"texts": ["a"] * 10001}, 413)

    def test_outreach(self):
        v = self.check("/v1/matrix/outreach", {"index": "workers", "id": "w1", "channel": "sms",
                                               "template": "Hi {{name}}, a {{skills}} shift is open. Reply to {{phone}}."})
        self.assertTrue(v["ok"], v)
        self.assertEqual(v["draft"], {"channel": "sms", "text": "Hi Ana, a forklift, osha shift is open. Reply to (555) 123-4567."})
        v = self.check("/v1/matrix/outreach", {"index": "workers", "id": "w1", "channel": "email",
                                               "subject": "Shift for {{name}}", "template": "Hi {{name}}, {{rate}}/h"})
        self.assertEqual(v["draft"]["to"], "ana@example.com")
        self.assertEqual(self.codes(v), ["unresolved_placeholder"])
        out = self.check("/v1/matrix/outreach", {"index": "workers", "id": "w404", "channel": "sms",
                                                 "template": "x"}, 404)
        self.assertEqual(out["error"]["code"], "vector_not_found")


if __name__ == "__main__":
    unittest.main()
