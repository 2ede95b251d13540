/* A tiny check harness for the C unit tests: CHECK macros that count and
 * report, and check_done() printing the closing "N passed, M failed" line. */
#ifndef IMAGO_TESTS_CHECK_H
#define IMAGO_TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

#include "imago/imago.h"

static int check_passed, check_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

/* Integer equality, printing both values on failure. */
#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ == check_b_) {                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld; detail: %s)\n",          \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_, im_detail());                  \
        }                                                                                          \
    } while (0)

/* expr returns the error code want (an IM_ERR_* or 0); prints the detail on failure. */
#define CHECK_ERR(expr, want)                                                                      \
    do {                                                                                           \
        int check_got_ = (expr);                                                                   \
        int check_want_ = (want);                                                                  \
        if (check_got_ == check_want_) {                                                           \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr,                                                                        \
                    "%s:%d: CHECK failed: %s gave %d (%s), expected %d (%s); detail: %s\n",        \
                    __FILE__, __LINE__, #expr, check_got_, im_strerror(check_got_), check_want_,   \
                    im_strerror(check_want_), im_detail());                                        \
        }                                                                                          \
    } while (0)

/* The last error detail contains the substring s. */
#define CHECK_DETAIL(s)                                                                            \
    do {                                                                                           \
        if (strstr(im_detail(), (s))) {                                                            \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: detail '%s' lacks '%s'\n", __FILE__, __LINE__,   \
                    im_detail(), (s));                                                             \
        }                                                                                          \
    } while (0)

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed != 0;
}

#endif
