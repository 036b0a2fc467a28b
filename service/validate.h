/* Pure validators of the value formats Koppel accepts. No allocation. */
#ifndef KOPPEL_VALIDATE_H
#define KOPPEL_VALIDATE_H
#include <stdbool.h>
#include <stddef.h>

bool v_uuid(const char *s);        /* 8-4-4-4-12 hex, any case */
bool v_date(const char *s);        /* YYYY-MM-DD, a real calendar date */
bool v_timestamp(const char *s);   /* RFC 3339 date-time with Z or offset */
bool v_email(const char *s);       /* local@domain.tld, no spaces, <= 254 */
bool v_nace(const char *s);        /* NACE Rev. 2: section A-U, or 01, 01.1, 01.11 */
bool v_isco(const char *s);        /* ISCO-08: 1 to 4 digits */
bool v_cefr(const char *s);        /* A1 A2 B1 B2 C1 C2 */
bool v_iso639_1(const char *s);    /* a two-letter ISO 639-1 language code */
bool v_phone(const char *s);       /* +, digits, spaces, dashes, dots, parentheses; 6..32 */
bool v_url(const char *s);         /* http:// or https:// and no spaces */
bool v_utf8(const char *s, size_t n); /* s[0..n) is well-formed UTF-8 (RFC 3629) */
/* Every name and value of a query string (the text after '?') is UTF-8 once
 * percent-decoded ('+' a space; a '%' not followed by two hex digits stands
 * for itself). */
bool v_query_utf8(const char *query);
/* Strict integer parse: no empty input, no junk, within [min, max]. */
bool v_strtonum(const char *s, long long min, long long max, long long *out);
/* Index of s in the NULL-terminated list, or -1. */
int v_enum(const char *s, const char *const *values);

#endif
