/* bounds: the largest numbers warmd takes from outside, written down once.
 *
 * Every token count that arrives from outside (a touch datagram, a control
 * request, a provider's usage, a simulator trace, the state file) is refused
 * above BOUNDS_MAX_TOKENS, and every price above BOUNDS_MAX_USD_PER_MTOK, at
 * the parser, with an error naming the field and the bound. No real request
 * comes near either, and together they keep money exact and far inside
 * int64: one answer (four token counts at the top price) costs at most
 * 4e17 pico-USD, a tenth of BOUNDS_MAX_PICO, where sums of money saturate
 * instead of wrapping; and twice BOUNDS_MAX_PICO still fits int64, so a
 * rounding step or one more addition on a saturated sum cannot wrap either.
 * man/warmd.conf.5 (pricing), warmctl.1 (touch) and warmd.8 (touch socket,
 * --simulate) document these numbers. */
#ifndef WARMD_BOUNDS_H
#define WARMD_BOUNDS_H

#include <stdint.h>

/* Tokens in one request or one usage field: 100 million, ten times the
 * largest context window offered today. */
#define BOUNDS_MAX_TOKENS 100000000LL

/* A price: USD per million tokens (the dearest output today is well under
 * this), and the same as pico-USD per token. */
#define BOUNDS_MAX_USD_PER_MTOK 1000
#define BOUNDS_MAX_PRICE_PICO   (BOUNDS_MAX_USD_PER_MTOK * 1000000LL)

/* Where every sum of money saturates: $4,000,000 in pico-USD. */
#define BOUNDS_MAX_PICO 4000000000000000000LL

/* An event counter read back from the state file: 2^53 - 1, exact in a
 * JSON number everywhere, and never reached at one event per microsecond. */
#define BOUNDS_MAX_COUNT 9007199254740991LL

/* A Unix time read from outside: 32-bit seconds (year 2106), what the
 * touch history stores. */
#define BOUNDS_MAX_TIME 4294967295.0

_Static_assert(4 * BOUNDS_MAX_TOKENS * BOUNDS_MAX_PRICE_PICO <= BOUNDS_MAX_PICO / 8,
               "one answer at the bounds must stay far below the saturation point");
_Static_assert(BOUNDS_MAX_PICO <= INT64_MAX / 2, "a saturated sum plus one more must fit");

#endif
