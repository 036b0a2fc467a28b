#include "service/problem.h"

#include <stdarg.h>
#include <stdio.h>

const char *problem_title(int status) {
  switch (status) {
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 409: return "Conflict";
  case 412: return "Precondition Failed";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Content";
  case 428: return "Precondition Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return status >= 500 ? "Server Error" : "Client Error";
  }
}

/* The length of the longest prefix of s that is valid UTF-8. A detail, pointer
 * or message made with snprintf from client input may end in a sequence cut
 * short (or carry bytes a URL decoded); JSON cannot carry those, and jansson
 * would refuse the whole string, losing the error. */
static size_t utf8_prefix(const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (u && u[i]) {
    size_t n;
    unsigned int c = u[i];
    if (c < 0x80) n = 1;
    else if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) n = 3;
    else if (c >= 0xF0 && c <= 0xF4) n = 4;
    else break;
    size_t j = 1;
    for (; j < n; j++)
      if ((u[i + j] & 0xC0) != 0x80) break;
    if (j < n) break;
    if (n == 3 && ((c == 0xE0 && u[i + 1] < 0xA0) || (c == 0xED && u[i + 1] >= 0xA0))) break;
    if (n == 4 && ((c == 0xF0 && u[i + 1] < 0x90) || (c == 0xF4 && u[i + 1] >= 0x90))) break;
    i += n;
  }
  return i;
}

json_t *problem_new(int status, const char *title, const char *detail, json_t *errors) {
  char type[64];
  snprintf(type, sizeof type, "https://koppel.dev/problems/%d", status);
  const char *t = title ? title : problem_title(status);
  const char *d = detail ? detail : t;
  json_t *p = json_pack("{s:s#, s:s#, s:i, s:s#}", "type", type, utf8_prefix(type), "title", t, utf8_prefix(t),
                        "status", status, "detail", d, utf8_prefix(d));
  if (!p) {
    json_decref(errors);
    return NULL;
  }
  if (errors) json_object_set_new(p, "errors", errors);
  return p;
}

void problem_add(json_t *errors, const char *pointer, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  json_array_append_new(errors, json_pack("{s:s#, s:s#}", "pointer", pointer, utf8_prefix(pointer), "message",
                                          msg, utf8_prefix(msg)));
}
