/* service/validate.c: every validator with valid, boundary and invalid input. */
#include "tests/unit/unit.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "service/validate.h"

static void uuid(void **state) {
  (void)state;
  EXPECT_ALL(v_uuid, true, "123e4567-e89b-12d3-a456-426614174000",
             "00000000-0000-0000-0000-000000000000", "ABCDEF01-2345-6789-ABCD-EF0123456789",
             "abcdef01-2345-6789-AbCd-eF0123456789");
  EXPECT_ALL(v_uuid, false, "", "123e4567-e89b-12d3-a456-42661417400",   /* 35 */
             "123e4567-e89b-12d3-a456-4266141740000",                     /* 37 */
             "123e4567e89b-12d3-a456-426614174000-",                      /* hyphen moved */
             "123e4567-e89b-12d3-a456_426614174000", "123e4567-e89b-12d3-a456-42661417400g",
             "{23e4567-e89b-12d3-a456-426614174000", " 23e4567-e89b-12d3-a456-426614174000",
             "123e4567-e89b-12d3-a456-42661417400\n"); /* 36 with a newline */
  assert_false(v_uuid(NULL));
}

static void date_calendar(void **state) {
  (void)state;
  EXPECT_ALL(v_date, true, "2024-02-29", /* leap: divisible by 4 */
             "2000-02-29",                 /* leap: divisible by 400 */
             "2023-02-28", "2024-01-31", "2024-03-31", "2024-04-30", "2024-12-31", "0001-01-01",
             "9999-12-31");
  EXPECT_ALL(v_date, false, "2023-02-29", /* not a leap year */
             "1900-02-29",                  /* divisible by 100, not 400 */
             "2100-02-29", "1800-02-29", "2200-02-29", "2024-02-30", "2024-02-31", "2024-04-31", "2024-06-31", "2024-09-31",
             "2024-11-31", "2024-01-32", "2024-13-01", "2024-00-10", "2024-01-00", "0000-01-01");
}

static void date_format(void **state) {
  (void)state;
  EXPECT_ALL(v_date, false, "", "2024-1-01", "2024-01-1", "24-01-01", "2024/01/01", "20240101",
             "2024-01-01 ", " 2024-01-01", "2024-01-0a", "+024-01-01", "2024-0-101",
             "2024-01-01T00:00:00Z", "abcd-ef-gh");
  assert_false(v_date(NULL));
}

static void timestamp(void **state) {
  (void)state;
  EXPECT_ALL(v_timestamp, true, "2024-02-29T12:34:56Z", "2024-02-29t12:34:56z",
             "2024-01-01T00:00:00.1Z", "2024-01-01T00:00:00.123456789Z", "2024-01-01T23:59:59+02:00",
             "2024-01-01T23:59:59-05:30", "2024-06-30T23:59:60Z" /* leap second */,
             "2024-01-01T00:00:00+23:59");
  EXPECT_ALL(v_timestamp, false, "", "2024-01-01", "2024-01-01T00:00:00", /* no offset */
             "2024-01-01 00:00:00Z", "2023-02-29T00:00:00Z", "2024-01-01T24:00:00Z",
             "2024-01-01T00:60:00Z", "2024-01-01T00:00:61Z", "2024-01-01T0:00:00Z",
             "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00+0200", "2024-01-01T00:00:00+24:00",
             "2024-01-01T00:00:00+02:60", "2024-01-01T00:00:00+02", "2024-01-01T00:00:00Zjunk",
             "2024-01-01T00:00:00+02:00x", "2024-01-01T00-00-00Z", "2024-01-01T00:00:00 Z");
  assert_false(v_timestamp(NULL));
}

static void email(void **state) {
  (void)state;
  EXPECT_ALL(v_email, true, "a@b.co", "first.last+tag@example.org", "x_y-z@sub.domain.nl",
             "a@b.c");
  EXPECT_ALL(v_email, false, "", "ab", "@b.co", "a@", "a@b", "a@@b.co", "a@b@c.co", "a b@c.co",
             "a@b..co", "a@.b.co", "a@b.co.", "a@b.", "<a>@b.co", "a@b,co.nl", "a\"b@c.co",
             "a@b.co ", "a\t@b.co", "a@[1.2.3.4]", "a:b@c.co");
  assert_false(v_email(NULL));

  /* 254 characters is the longest address; 255 is refused. */
  char buf[300];
  memset(buf, 'a', sizeof buf);
  memcpy(buf + 254 - 6, "@ex.co", 7);
  assert_int_equal(strlen(buf), 254);
  assert_true(v_email(buf));
  memset(buf, 'a', sizeof buf);
  memcpy(buf + 255 - 6, "@ex.co", 7);
  assert_int_equal(strlen(buf), 255);
  assert_false(v_email(buf));
}

static void nace(void **state) {
  (void)state;
  /* Sections A..U, divisions 01..99, groups 01.1, classes 01.11. */
  EXPECT_ALL(v_nace, true, "A", "C", "U", "01", "62", "99", "01.1", "62.0", "01.11", "62.01",
             "99.00");
  EXPECT_ALL(v_nace, false, "", "V", "Z", "a", "u", "1", "00", "001", "100", "01.", "01.1a",
             "01.111", "01-1", "0a", "A1", "AB", "01 1", "01.a1", ".011", "01,11", " 01");
  assert_false(v_nace(NULL));
}

static void isco(void **state) {
  (void)state;
  /* ISCO-08: major group (0 = armed forces) to unit group, 1..4 digits. */
  EXPECT_ALL(v_isco, true, "0", "2", "25", "251", "2512", "9999");
  EXPECT_ALL(v_isco, false, "", "25121", "2a", "-1", " 2", "2 ", "2.5", "+25", "A");
  assert_false(v_isco(NULL));
}

static void cefr(void **state) {
  (void)state;
  EXPECT_ALL(v_cefr, true, "A1", "A2", "B1", "B2", "C1", "C2");
  EXPECT_ALL(v_cefr, false, "", "A", "A0", "A3", "C3", "D1", "a1", "b2", "B11", " B1", "1A");
  assert_false(v_cefr(NULL));
}

static void iso639(void **state) {
  (void)state;
  /* First, last and a spread of known codes, including ones near gaps. */
  EXPECT_ALL(v_iso639_1, true, "aa", "ab", "ar", "de", "en", "es", "fr", "nl", "pl", "ru", "so",
             "ti", "tr", "uk", "zh", "zu", "ff", "ps", "fa", "ku", "am", "yi", "za");
  /* Well-formed but not assigned, and malformed. */
  EXPECT_ALL(v_iso639_1, false, "xx", "qq", "zz", "aq", "jp", "gr", "dk", "zx", "EN", "En", "eng",
             "e", "", "e1", "e ", "--");
  assert_false(v_iso639_1(NULL));

  /* The table holds exactly the assigned codes: count them over all 676. */
  int known = 0;
  char code[3] = {0};
  for (char a = 'a'; a <= 'z'; a++)
    for (char b = 'a'; b <= 'z'; b++) {
      code[0] = a;
      code[1] = b;
      known += v_iso639_1(code);
    }
  assert_int_equal(known, 184); /* ISO 639-1 as in Debian's iso-codes, "bh" included */
}

static void phone(void **state) {
  (void)state;
  EXPECT_ALL(v_phone, true, "+31 20 123 4567", "(020) 123-4567", "020.123.4567", "123456",
             "+316123456", "0612345678");
  EXPECT_ALL(v_phone, false, "", "12345", /* too short */
             "+ 12345",                     /* 7 characters, only 5 digits */
             "12+3456",                     /* + only in front */
             "++123456", "0612345678x", "06/12345678", "call 0612345678", "+31\t20123456");
  assert_false(v_phone(NULL));

  char buf[40];
  memset(buf, 0, sizeof buf);
  memset(buf, '1', 32);
  assert_true(v_phone(buf)); /* 32 characters is the maximum */
  buf[32] = '1';
  assert_false(v_phone(buf));
}

static void url(void **state) {
  (void)state;
  EXPECT_ALL(v_url, true, "https://example.org", "http://x", "https://a.b/c?d=e#f",
             "https://example.org:8443/cv.pdf");
  EXPECT_ALL(v_url, false, "", "ftp://example.org", "https://", "http://", "https:///path",
             "https://exa mple.org", "javascript:alert(1)", "example.org", "//example.org",
             "https:/example.org", "https://example.org/\n", "https://a\tb");
  assert_false(v_url(NULL));

  static char buf[2100];
  memset(buf, 'a', sizeof buf);
  memcpy(buf, "https://", 8);
  buf[2048] = 0;
  assert_true(v_url(buf)); /* 2048 characters is the maximum */
  buf[2048] = 'a';
  buf[2049] = 0;
  assert_false(v_url(buf));
}

static void strtonum_valid(void **state) {
  (void)state;
  long long v = -1;
  assert_true(v_strtonum("0", 0, 10, &v));
  assert_int_equal(v, 0);
  assert_true(v_strtonum("42", 0, 100, &v));
  assert_int_equal(v, 42);
  assert_true(v_strtonum("-5", -10, 10, &v));
  assert_int_equal(v, -5);
  assert_true(v_strtonum("007", 0, 10, &v));
  assert_int_equal(v, 7);
  assert_true(v_strtonum("9223372036854775807", 0, LLONG_MAX, &v));
  assert_true(v == LLONG_MAX);
  assert_true(v_strtonum("-9223372036854775808", LLONG_MIN, 0, &v));
  assert_true(v == LLONG_MIN);
  assert_true(v_strtonum("5", 0, 10, NULL)); /* out is optional */
}

static void strtonum_range(void **state) {
  (void)state;
  long long v = 0;
  assert_true(v_strtonum("1", 1, 200, &v));   /* both bounds inclusive */
  assert_true(v_strtonum("200", 1, 200, &v));
  assert_int_equal(v, 200);
  assert_false(v_strtonum("0", 1, 200, &v));
  assert_false(v_strtonum("201", 1, 200, &v));
  assert_false(v_strtonum("-1", 0, 10, &v));
  assert_int_equal(v, 200); /* untouched on failure: callers keep their default */
}

static void strtonum_invalid(void **state) {
  (void)state;
  const char *bad[] = {"",     " 1",   "1 ",   "+1",  "-",   "--1", "- 1", "abc", "12abc", "0x10",
                       "1e3",  "1.0",  "1,0",  "\t1", "1\n", "٣",   NULL};
  for (size_t i = 0; bad[i]; i++) {
    long long v = 99;
    if (v_strtonum(bad[i], LLONG_MIN, LLONG_MAX, &v)) fail_msg("v_strtonum(\"%s\") accepted", bad[i]);
    assert_int_equal(v, 99);
  }
  assert_false(v_strtonum(NULL, 0, 10, NULL));
  /* Overflow is an error, not a clamp to LLONG_MAX/LLONG_MIN. */
  assert_false(v_strtonum("9223372036854775808", LLONG_MIN, LLONG_MAX, NULL));
  assert_false(v_strtonum("-9223372036854775809", LLONG_MIN, LLONG_MAX, NULL));
  assert_false(v_strtonum("99999999999999999999999", LLONG_MIN, LLONG_MAX, NULL));
}

static void enum_index(void **state) {
  (void)state;
  static const char *const kinds[] = {"mentor", "mentee", NULL};
  static const char *const none[] = {NULL};
  assert_int_equal(v_enum("mentor", kinds), 0);
  assert_int_equal(v_enum("mentee", kinds), 1);
  assert_int_equal(v_enum("Mentor", kinds), -1);
  assert_int_equal(v_enum("ment", kinds), -1);
  assert_int_equal(v_enum("mentors", kinds), -1);
  assert_int_equal(v_enum("", kinds), -1);
  assert_int_equal(v_enum(NULL, kinds), -1);
  assert_int_equal(v_enum("mentor", none), -1);
}

static void utf8(void **state) {
  (void)state;
  assert_true(v_utf8("", 0));
  assert_true(v_utf8("a\xc3\xa9\xe2\x80\x94\xf0\x9f\x9a\x80", 10)); /* a é — 🚀 */
  assert_false(v_utf8("\xc3", 1));                                   /* cut short */
  assert_false(v_utf8("\xc3\xa9\xc3", 3));
  assert_false(v_utf8("\xc0\xaf", 2));                               /* overlong / */
  assert_false(v_utf8("\xe0\x80\xaf", 3));
  assert_false(v_utf8("\xed\xa0\x80", 3));                           /* a surrogate */
  assert_false(v_utf8("\xf4\x90\x80\x80", 4));                       /* above U+10FFFF */
  assert_false(v_utf8("\xff", 1));
  assert_false(v_utf8("\x80", 1));
}

static void query_utf8(void **state) {
  (void)state;
  assert_true(v_query_utf8(""));
  assert_true(v_query_utf8("status=waiting&q=J%C3%BCrgen+M&limit=10"));
  assert_true(v_query_utf8("q=100%&x=%zz%4"));                         /* a bare % stands for itself */
  assert_false(v_query_utf8("status=%C3"));
  assert_false(v_query_utf8("zz%C3=1"));
  assert_false(v_query_utf8("q=%C3&x=%A9"));                           /* not across '&' */
  assert_false(v_query_utf8("q=\xc3"));                                /* raw bytes too */
  char long_q[4000] = "q=";
  for (int i = 0; i < 600; i++) strcat(long_q, "%C3%A9");              /* across the 256-byte pieces */
  assert_true(v_query_utf8(long_q));
  strcat(long_q, "%C3");
  assert_false(v_query_utf8(long_q));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(uuid),           cmocka_unit_test(date_calendar),
    cmocka_unit_test(utf8),           cmocka_unit_test(query_utf8),
    cmocka_unit_test(date_format),    cmocka_unit_test(timestamp),
    cmocka_unit_test(email),          cmocka_unit_test(nace),
    cmocka_unit_test(isco),           cmocka_unit_test(cefr),
    cmocka_unit_test(iso639),         cmocka_unit_test(phone),
    cmocka_unit_test(url),            cmocka_unit_test(strtonum_valid),
    cmocka_unit_test(strtonum_range), cmocka_unit_test(strtonum_invalid),
    cmocka_unit_test(enum_index),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
