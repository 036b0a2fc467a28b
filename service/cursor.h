/* Opaque, tamper-evident keyset cursors: base64url(scope:seq) "." HMAC-SHA256. */
#ifndef KOPPEL_CURSOR_H
#define KOPPEL_CURSOR_H
#include <stdbool.h>
#include <stddef.h>

/* Writes a NUL-terminated cursor for (scope, seq) into out (>= 160 bytes; an empty string if smaller). */
void cursor_encode(const char *secret, const char *scope, long long seq, char *out, size_t outlen);
/* true and *seq when the cursor is well formed, signed with secret and of that scope. */
bool cursor_decode(const char *secret, const char *scope, const char *cursor, long long *seq);

#endif
