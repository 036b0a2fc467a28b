/* libFuzzer target: cursor_decode on arbitrary text. The seed corpus holds
 * cursors signed with FUZZ_SECRET, so mutations reach the accepting path.
 * Aborts when an accepted cursor is out of range or does not re-encode to a
 * cursor that decodes the same, or differs from the canonical one (pinned:
 * a changed cursor is a 400). The first 8 bytes also drive an encode/decode round trip. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "service/cursor.h"

#define FUZZ_SECRET "cursor:fuzz-secret-0123456789abcdef"
#define SCOPE "participants"
#define MAX_SEQ 9007199254740991LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = 0;

  long long seq = -1;
  if (cursor_decode(FUZZ_SECRET, SCOPE, s, &seq)) {
    if (seq < 0 || seq > MAX_SEQ) abort();
    char c[200];
    long long again = -1;
    cursor_encode(FUZZ_SECRET, SCOPE, seq, c, sizeof c);
    if (!cursor_decode(FUZZ_SECRET, SCOPE, c, &again) || again != seq) abort();
    if (strcmp(c, s) != 0) abort();
    /* Bound to its scope and secret. */
    if (cursor_decode(FUZZ_SECRET, "pairs", s, &again)) abort();
    if (cursor_decode("cursor:another-secret", SCOPE, s, &again)) abort();
  }

  if (size >= 8) {
    uint64_t v;
    memcpy(&v, data, 8);
    long long want = (long long)(v % (uint64_t)(MAX_SEQ + 1));
    char c[200];
    long long got = -1;
    cursor_encode(FUZZ_SECRET, SCOPE, want, c, sizeof c);
    if (!cursor_decode(FUZZ_SECRET, SCOPE, c, &got) || got != want) abort();
  }
  free(s);
  return 0;
}
