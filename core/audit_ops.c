/* audit_ops: operational checks: the API key inline in the config
 * (inline-key), a template with no minimal warm (unwarmable), no real
 * traffic reported (no-touches), and warms that keep writing the cache
 * (warm-writes). */
#include "audit.h"

#include <string.h>

#include "audit_internal.h"

#define WRITE_SHARE 4 /* warm-writes: more than 1 in WRITE_SHARE warms wrote */

/* Has a finding of check for provider prov been made already? (Provider
 * findings are made once, not once per target.) */
static bool provider_reported(const struct audit *a, enum check check, const char *prov)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].f.target == NULL && a->v[i].check_id == check && prov &&
		    a->v[i].f.provider && strcmp(a->v[i].f.provider, prov) == 0)
			return true;
	return false;
}

void audit_check_operations(struct audit *a, const struct audit_target *t)
{
	if (t->inline_key && !provider_reported(a, C_INLINE_KEY, t->provider))
		audit_add(
		        a, NULL, t->provider, AUDIT_HIGH, C_INLINE_KEY, "security", "minutes",
		        audit_fmt(a, "API key written inline in the configuration"),
		        audit_fmt(
		                a,
		                "Provider %s has its API key in warmd.conf itself, where backups, "
		                "config management and anyone who can read the file see it.",
		                t->provider ? t->provider : "(unnamed)"),
		        audit_fmt(a, "Move it to api_key_file (with systemd LoadCredential=) or "
		                     "api_key_env, and rotate the key."));
	if (t->unwarmable && t->unwarmable[0])
		audit_add(a, t, NULL, AUDIT_HIGH, C_UNWARMABLE, "operations", "hours",
		          audit_fmt(a, "The template cannot be warmed minimally"),
		          audit_fmt(a, "warmd sends no warms for this target: %s.", t->unwarmable),
		          audit_fmt(a, "Change the template (or allow_edit, where it says so) so "
		                       "that a minimal request reads the same prefix as the "
		                       "application's requests."));
	if (a->static_only)
		return;
	if (t->touches == 0 && t->ntouch == 0)
		audit_add(a, t, NULL, AUDIT_LOW, C_NO_TOUCHES, "monitoring", "hours",
		          audit_fmt(a, "No real traffic reported"),
		          audit_fmt(a, "warmd has never received a touch for this target, so it "
		                       "cannot tell whether the application's requests read the "
		                       "cache it keeps warm, nor size warming to the traffic."),
		          audit_fmt(a, "Have the application send a touch after each request (a "
		                       "datagram \"TARGET hit|miss cached=N input=N\" to the touch "
		                       "socket, or warmctl touch)."));
	if (t->writes >= 2 && t->warms >= 4 && t->writes * WRITE_SHARE > t->warms)
		audit_add(
		        a, t, NULL, AUDIT_MEDIUM, C_WARM_WRITES, "cache effectiveness", "hours",
		        audit_fmt(a, "Warms write the cache instead of reading it"),
		        audit_fmt(a,
		                  "%llu of %llu warms wrote the prefix instead of reading it. A "
		                  "warm should find its own earlier write: repeated writes mean "
		                  "the prefix drifts between requests, or the provider evicts it "
		                  "before the TTL (a busy self-hosted KV cache, another machine "
		                  "behind the same key).",
		                  (unsigned long long)t->writes, (unsigned long long)t->warms),
		        audit_fmt(
		                a,
		                "Compare successive warm bodies for drift (dynamic content, "
		                "unstable tool order); on a self-hosted server give the KV cache "
		                "more room; check the TTL matches the template's cache_control."));
}
