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
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Content";
  case 428: return "Precondition Required";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return status >= 500 ? "Server Error" : "Client Error";
  }
}

json_t *problem_new(int status, const char *title, const char *detail, json_t *errors) {
  char type[64];
  snprintf(type, sizeof type, "https://koppel.dev/problems/%d", status);
  json_t *p = json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title",
                        title ? title : problem_title(status), "status", status, "detail",
                        detail ? detail : (title ? title : problem_title(status)));
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
  json_array_append_new(errors, json_pack("{s:s, s:s}", "pointer", pointer, "message", msg));
}
