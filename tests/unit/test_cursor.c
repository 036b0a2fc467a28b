/* service/cursor.c: signed keyset cursors round-trip and reject every change. */
#include "tests/unit/unit.h"

#include <stdbool.h>
#include <stdio.h>

#include "service/cursor.h"

#define SECRET "cursor:unit-test-secret-0123456789abcdef"
#define MAX_SEQ 9007199254740991LL /* 2^53 - 1, what the service ever issues */

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void enc(const char *scope, long long seq, char *out) {
  cursor_encode(SECRET, scope, seq, out, 200);
  assert_true(out[0] != 0);
}

/* Replaces the character at i by another base64url character. */
static void flip(char *c, size_t i) {
  const char *p = strchr(B64URL, c[i]);
  assert_non_null(p);
  c[i] = B64URL[((size_t)(p - B64URL) + 17) % 64];
}

static void round_trip(void **state) {
  (void)state;
  const long long seqs[] = {0, 1, 49, 12345, 1LL << 40, MAX_SEQ};
  for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
    char c[200];
    enc("participants", seqs[i], c);
    long long got = -1;
    assert_true(cursor_decode(SECRET, "participants", c, &got));
    assert_true(got == seqs[i]);
  }
}

static void shape(void **state) {
  (void)state;
  char a[200], b[200], c[200];
  enc("pairs", 7, a);
  enc("pairs", 7, b);
  enc("pairs", 8, c);
  assert_string_equal(a, b);     /* deterministic */
  assert_string_not_equal(a, c); /* depends on the position */
  /* Safe in a query string as is: base64url characters and one dot. */
  assert_int_equal(strspn(a, B64URL) + 1 + strspn(strchr(a, '.') + 1, B64URL), strlen(a));
  assert_non_null(strchr(a, '.'));
  assert_null(strchr(strchr(a, '.') + 1, '.'));
  assert_null(strstr(a, "pairs")); /* opaque: the scope is not readable as is */
}

static void long_scope_fits(void **state) {
  (void)state;
  /* The longest payload (95 bytes) must still fit the documented buffer. */
  char scope[79]; /* 78 + ':' + 16 digits = 95 */
  memset(scope, 's', sizeof scope - 1);
  scope[sizeof scope - 1] = 0;
  char c[160];
  cursor_encode(SECRET, scope, MAX_SEQ, c, sizeof c);
  assert_true(c[0] != 0);
  long long got = 0;
  assert_true(cursor_decode(SECRET, scope, c, &got));
  assert_true(got == MAX_SEQ);
}

static void short_buffer_gives_empty(void **state) {
  (void)state;
  char c[64];
  memset(c, 'x', sizeof c);
  cursor_encode(SECRET, "pairs", 1, c, sizeof c);
  assert_int_equal(c[0], 0); /* never a truncated cursor */
}

static void out_of_range_seq(void **state) {
  (void)state;
  /* Positions outside 0..2^53-1 are never issued; if forged they are refused
   * even with a valid signature. */
  char c[200];
  long long got = 5;
  cursor_encode(SECRET, "pairs", -1, c, sizeof c);
  assert_false(cursor_decode(SECRET, "pairs", c, &got));
  cursor_encode(SECRET, "pairs", MAX_SEQ + 1, c, sizeof c);
  assert_false(cursor_decode(SECRET, "pairs", c, &got));
  assert_int_equal(got, 5);
}

static void tampered_payload(void **state) {
  (void)state;
  char c[200];
  enc("participants", 12345, c);
  size_t dot = (size_t)(strchr(c, '.') - c);
  for (size_t i = 0; i < dot; i++) {
    char t[200];
    strcpy(t, c);
    flip(t, i);
    long long got = -1;
    if (cursor_decode(SECRET, "participants", t, &got))
      fail_msg("payload changed at %zu accepted: %s -> %lld", i, t, got);
  }
  /* A payload shortened by one group of four characters. */
  char t[200];
  snprintf(t, sizeof t, "%s", c + 4);
  assert_false(cursor_decode(SECRET, "participants", t, NULL));
}

static void tampered_signature(void **state) {
  (void)state;
  char c[200];
  enc("participants", 12345, c);
  size_t dot = (size_t)(strchr(c, '.') - c), len = strlen(c);
  for (size_t i = dot + 1; i < len; i++) {
    char t[200];
    strcpy(t, c);
    flip(t, i);
    if (cursor_decode(SECRET, "participants", t, NULL)) fail_msg("signature changed at %zu accepted", i);
  }
  char t[210];
  strcpy(t, c);
  t[len - 1] = 0; /* truncated */
  assert_false(cursor_decode(SECRET, "participants", t, NULL));
  snprintf(t, sizeof t, "%sA", c); /* extended */
  assert_false(cursor_decode(SECRET, "participants", t, NULL));
  snprintf(t, sizeof t, "%.*s.", (int)dot, c); /* signature removed */
  assert_false(cursor_decode(SECRET, "participants", t, NULL));
}

static void other_scope(void **state) {
  (void)state;
  char c[200];
  enc("pairs", 123, c);
  assert_true(cursor_decode(SECRET, "pairs", c, NULL));
  assert_false(cursor_decode(SECRET, "participants", c, NULL));
  assert_false(cursor_decode(SECRET, "pears", c, NULL));   /* same length */
  assert_false(cursor_decode(SECRET, "pair", c, NULL));    /* a prefix of the scope */
  assert_false(cursor_decode(SECRET, "pairs:1", c, NULL)); /* scope running into the number */
  assert_false(cursor_decode(SECRET, "", c, NULL));
  enc("pair", 10, c);
  assert_false(cursor_decode(SECRET, "pairs", c, NULL));
}

static void other_secret(void **state) {
  (void)state;
  char c[200];
  enc("pairs", 10, c);
  assert_false(cursor_decode("cursor:another-secret-0123456789abcdef", "pairs", c, NULL));
  assert_false(cursor_decode("", "pairs", c, NULL));
}

static void garbage(void **state) {
  (void)state;
  const char *bad[] = {"", ".", "..", "abc", "abc.", ".abc", "!!!.###", "cGFpcnM6MTA",
                       "cGFpcnM6MTA.", "cGFpcnM6MTA.AAAAAAAAAAAAAAAAAAAAAA", /* forged "pairs:10" */
                       "cGFpcn M6MTA.AAAAAAAAAAAAAAAAAAAAAA", "null", "0", "%00.%00", NULL};
  for (size_t i = 0; bad[i]; i++) {
    long long got = 77;
    if (cursor_decode(SECRET, "pairs", bad[i], &got)) fail_msg("garbage accepted: \"%s\"", bad[i]);
    assert_int_equal(got, 77);
  }
  assert_false(cursor_decode(SECRET, "pairs", NULL, NULL));
  char big[400];
  memset(big, 'A', sizeof big - 1);
  big[sizeof big - 1] = 0;
  big[150] = '.';
  assert_false(cursor_decode(SECRET, "pairs", big, NULL)); /* over 200 characters */
}

/* Pinned: "a changed cursor is a 400". base64url has spare bits (a trailing
 * lone character, or the unused low bits of the last one), so some changed
 * strings decode to the same payload and still pass the signature check. */
static void non_canonical_rejected(void **state) {
  (void)state;
  char c[200], t[210];
  enc("participants", 12345, c);
  size_t dot = (size_t)(strchr(c, '.') - c);
  /* One extra character before the dot: 6 bits that never form a byte. */
  snprintf(t, sizeof t, "%.*sA%s", (int)dot, c, c + dot);
  assert_false(cursor_decode(SECRET, "participants", t, NULL));
  /* The last payload character's unused low bits changed. */
  strcpy(t, c);
  if (dot % 4 != 0) {
    const char *p = strchr(B64URL, t[dot - 1]);
    t[dot - 1] = B64URL[(size_t)(p - B64URL) ^ 1];
    assert_false(cursor_decode(SECRET, "participants", t, NULL));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(round_trip),        cmocka_unit_test(shape),
    cmocka_unit_test(long_scope_fits),   cmocka_unit_test(short_buffer_gives_empty),
    cmocka_unit_test(out_of_range_seq),  cmocka_unit_test(tampered_payload),
    cmocka_unit_test(tampered_signature), cmocka_unit_test(other_scope),
    cmocka_unit_test(other_secret),      cmocka_unit_test(garbage),
    cmocka_unit_test(non_canonical_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
