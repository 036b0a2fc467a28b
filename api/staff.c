#include "api/api.h"
#include "service/http.h"
static const struct route routes[] = {{NULL, NULL, NULL, 0, 0}};
void staff_register(void) { routes_add(routes); }
