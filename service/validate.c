#include "service/validate.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_hex(char c) { return isxdigit((unsigned char)c) != 0; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool v_uuid(const char *s) {
  if (!s || strlen(s) != 36) return false;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!is_hex(s[i])) {
      return false;
    }
  }
  return true;
}

static int num(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!is_digit(s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

static bool valid_ymd(int y, int m, int d) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || m < 1 || m > 12 || d < 1) return false;
  int max = days[m - 1];
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) max = 29;
  return d <= max;
}

bool v_date(const char *s) {
  if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') return false;
  return valid_ymd(num(s, 4), num(s + 5, 2), num(s + 8, 2));
}

bool v_timestamp(const char *s) {
  if (!s || strlen(s) < 20) return false;
  char date[11];
  memcpy(date, s, 10);
  date[10] = 0;
  if (!v_date(date) || (s[10] != 'T' && s[10] != 't')) return false;
  const char *t = s + 11;
  int hh = num(t, 2), mm = num(t + 3, 2), ss = num(t + 6, 2);
  if (t[2] != ':' || t[5] != ':' || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60)
    return false;
  t += 8;
  if (*t == '.') {
    t++;
    if (!is_digit(*t)) return false;
    while (is_digit(*t)) t++;
  }
  if ((*t == 'Z' || *t == 'z') && t[1] == 0) return true;
  if ((*t == '+' || *t == '-') && strlen(t) == 6 && t[3] == ':') {
    int oh = num(t + 1, 2), om = num(t + 4, 2);
    return oh >= 0 && oh <= 23 && om >= 0 && om <= 59;
  }
  return false;
}

bool v_email(const char *s) {
  if (!s) return false;
  size_t len = strlen(s);
  if (len < 3 || len > 254) return false;
  const char *at = strchr(s, '@');
  if (!at || at == s || strchr(at + 1, '@')) return false;
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' ||
        c == ';' || c == ':' || c == '\\' || c == '"' || c == '[' || c == ']')
      return false;
  }
  const char *dom = at + 1;
  const char *dot = strrchr(dom, '.');
  if (!dot || dot == dom || dot[1] == 0 || dom[0] == '.' || strstr(dom, "..")) return false;
  return true;
}

bool v_nace(const char *s) {
  if (!s) return false;
  size_t n = strlen(s);
  if (n == 1) return s[0] >= 'A' && s[0] <= 'U';
  if (n != 2 && n != 4 && n != 5) return false;
  if (!is_digit(s[0]) || !is_digit(s[1])) return false;
  int div = num(s, 2);
  if (div < 1 || div > 99) return false;
  if (n == 2) return true;
  if (s[2] != '.' || !is_digit(s[3])) return false;
  return n == 4 || is_digit(s[4]);
}

bool v_isco(const char *s) {
  if (!s) return false;
  size_t n = strlen(s);
  if (n < 1 || n > 4) return false;
  for (size_t i = 0; i < n; i++)
    if (!is_digit(s[i])) return false;
  return true;
}

bool v_cefr(const char *s) {
  return s && strlen(s) == 2 && (s[0] == 'A' || s[0] == 'B' || s[0] == 'C') &&
         (s[1] == '1' || s[1] == '2');
}

/* The 184 two-letter codes of ISO 639-1, concatenated. */
static const char iso639_1[] =
  "aaabaeafakamanarasavayazbabebgbhbibmbnbobrbscacechcocrcscucvcydadedvdzeeeleneoeseteu"
  "fafffifjfofrfygagdglgngugvhahehihohrhthuhyhziaidieigiiikioisitiujajvkakgkikjkkklkmkn"
  "kokrkskukvkwkylalblglilnloltlulvmgmhmimkmlmnmrmsmtmynanbndnengnlnnnonrnvnyocojomoros"
  "papiplpsptqurmrnrorurwsascsdsesgsiskslsmsnsosqsrssstsusvswtatetgthtitktltntotrtstttw"
  "tyugukuruzvevivowawoxhyiyozazhzu";

bool v_iso639_1(const char *s) {
  if (!s || strlen(s) != 2 || !islower((unsigned char)s[0]) || !islower((unsigned char)s[1]))
    return false;
  for (size_t i = 0; i + 1 < sizeof iso639_1; i += 2)
    if (iso639_1[i] == s[0] && iso639_1[i + 1] == s[1]) return true;
  return false;
}

bool v_phone(const char *s) {
  if (!s) return false;
  size_t n = strlen(s), digits = 0;
  if (n < 6 || n > 32) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (is_digit(c)) digits++;
    else if (!(c == '+' && i == 0) && c != ' ' && c != '-' && c != '(' && c != ')' && c != '.')
      return false;
  }
  return digits >= 6;
}

bool v_url(const char *s) {
  if (!s || strlen(s) > 2048) return false;
  const char *rest;
  if (strncmp(s, "https://", 8) == 0) rest = s + 8;
  else if (strncmp(s, "http://", 7) == 0) rest = s + 7;
  else return false;
  if (!*rest || *rest == '/') return false;
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f) return false;
  return true;
}

bool v_utf8(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    unsigned int c = u[i];
    size_t len;
    if (c < 0x80) len = 1;
    else if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) len = 3;
    else if (c >= 0xF0 && c <= 0xF4) len = 4;
    else return false;
    if (len > n - i) return false;
    for (size_t j = 1; j < len; j++)
      if ((u[i + j] & 0xC0) != 0x80) return false;
    if ((c == 0xE0 && u[i + 1] < 0xA0) || (c == 0xED && u[i + 1] >= 0xA0) || /* overlong, surrogate */
        (c == 0xF0 && u[i + 1] < 0x90) || (c == 0xF4 && u[i + 1] >= 0x90))   /* overlong, > U+10FFFF */
      return false;
    i += len;
  }
  return true;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool v_query_utf8(const char *query) {
  /* Decoded in pieces: '&' and '=' are ASCII, so a sequence never spans a
   * piece boundary validly, and the pieces are cut at a character start. */
  unsigned char buf[256];
  size_t n = 0;
  for (const char *c = query; c && *c; c++) {
    unsigned char b = (unsigned char)*c;
    if (*c == '%' && hex_digit(c[1]) >= 0 && hex_digit(c[2]) >= 0) {
      b = (unsigned char)(hex_digit(c[1]) * 16 + hex_digit(c[2]));
      c += 2;
    }
    if (n >= sizeof buf - 4 && (b & 0xC0) != 0x80) {
      if (!v_utf8((const char *)buf, n)) return false;
      n = 0;
    }
    if (n == sizeof buf) return false; /* more than 3 continuation bytes in a row */
    buf[n++] = b;
  }
  return v_utf8((const char *)buf, n);
}

bool v_strtonum(const char *s, long long min, long long max, long long *out) {
  if (!s || !*s) return false;
  if (!is_digit(*s) && !(*s == '-' && is_digit(s[1]))) return false;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || !end || *end != 0 || v < min || v > max) return false;
  if (out) *out = v;
  return true;
}

int v_enum(const char *s, const char *const *values) {
  if (!s) return -1;
  for (int i = 0; values[i]; i++)
    if (strcmp(s, values[i]) == 0) return i;
  return -1;
}
