/* Meta endpoints without auth: /health, /ready, /openapi.yaml, /docs, /metrics. */
#ifndef KOPPEL_META_H
#define KOPPEL_META_H
#include "service/http.h"
void meta_register(void);
#endif
