/* fuzz_duration: human durations (common/duration.c), as config values
 * ("ttl", "idle_limit", ...) and schedule text carry them. */
#include <math.h>

#include "duration.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size), out[64], small[4];
	double v = -1;

	if (duration_parse(s, &v) == 0) {
		double back = -1;
		/* The parser promises a finite, non-negative, bounded number... */
		if (!isfinite(v) || v < 0 || v > 365.0 * 86400)
			abort();
		/* ...and whatever it accepts prints, in any buffer, as something
		 * that parses again (status shows what the config said). */
		duration_format(v, out, sizeof(out));
		duration_format(v, small, sizeof(small));
		if (out[0] != '-' && strcmp(out, "never") != 0 && duration_parse(out, &back) < 0)
			abort();
	}
	/* Printing takes any double: reuse the input's bytes as one. */
	if (size >= sizeof(double)) {
		double d;
		memcpy(&d, data, sizeof(d));
		duration_format(d, out, sizeof(out));
		duration_format(d, small, sizeof(small));
	}
	free(s);
	return 0;
}
