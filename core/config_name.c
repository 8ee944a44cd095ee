/* config_name: the syntax of provider and target names. */
#include "config_name.h"

#include <string.h>

/* 1 to 64 characters of [A-Za-z0-9._-], and ':' when colon. */
static bool name_valid(const char *s, bool colon)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || (colon && c == ':')))
			return false;
	}
	return true;
}

bool config_name_valid(const char *s)
{
	return name_valid(s, false);
}

bool config_session_name_valid(const char *s)
{
	return name_valid(s, true);
}

bool config_lane_name_valid(const char *s)
{
	const char *at = strchr(s, '@');
	char group[80];

	if (!at)
		return config_name_valid(s);
	if ((size_t)(at - s) >= sizeof(group))
		return false;
	memcpy(group, s, (size_t)(at - s));
	group[at - s] = '\0';
	return config_name_valid(group) && config_name_valid(at + 1);
}
