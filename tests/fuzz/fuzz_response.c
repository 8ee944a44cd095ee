/* fuzz_response: provider answers as the adapters read them: parse_ok on a
 * 2xx body (Anthropic usage; OpenAI chat and Responses usage; compatible
 * servers' usage and llama.cpp's `timings`; Bedrock's InvokeModel and
 * Converse usage, told apart by their fields) and parse_error on an error
 * body (Bedrock's {"message"} and "__type" too), for every provider kind.
 *
 * Whoever answers on the provider's URL controls these bytes: the provider,
 * a gateway or proxy in between, or a misconfigured base_url. */
#include "fuzz.h"
#include "adapters.h"

static const enum provider_kind kinds[] = { PROVIDER_ANTHROPIC, PROVIDER_OPENAI,
	                                    PROVIDER_OPENAI_COMPAT, PROVIDER_BEDROCK,
	                                    PROVIDER_VERTEX };
static const long statuses[] = { 400, 401, 429, 529 };

static void check_usage(const struct warm_usage *u)
{
	if (u->result != WARM_HIT && u->result != WARM_WRITE && u->result != WARM_NONE)
		abort();
	/* Token counts feed pricing and status: never negative. */
	if (u->read < 0 || u->write < 0 || u->input < 0 || u->output < 0)
		abort();
	if (u->result == WARM_HIT && u->read == 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const struct adapter_ops *ops = adapter_ops_for(kinds[k]);
		struct warm_usage u;
		struct errmsg e;

		e.text[0] = '\0';
		if (ops->parse_ok(body, size, &u, &e) == 0)
			check_usage(&u);
		else if (!e.text[0])
			abort(); /* a rejected answer says why */

		e.text[0] = '\0';
		ops->parse_error(statuses[size % 4], body, size, &e);
		if (!e.text[0] || !memchr(e.text, '\0', sizeof(e.text)))
			abort();
	}
	return 0;
}
