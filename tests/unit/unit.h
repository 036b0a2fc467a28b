/* Small helpers shared by the cmocka unit tests (not a test itself: the
 * CMake glob only picks up test_*.c). */
#ifndef KOPPEL_TEST_UNIT_H
#define KOPPEL_TEST_UNIT_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Checks pred(s) == want for each string of a NULL-terminated list, naming
 * the failing input (a bare assert_true inside a loop would not). */
#define EXPECT_ALL(pred, want, ...)                                           \
  do {                                                                        \
    const char *const list_[] = {__VA_ARGS__, NULL};                          \
    for (size_t i_ = 0; list_[i_]; i_++)                                      \
      if ((pred(list_[i_])) != (want))                                        \
        fail_msg("%s(\"%s\") should be %s", #pred, list_[i_],                 \
                 (want) ? "true" : "false");                                  \
  } while (0)

#endif
