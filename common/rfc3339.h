/* rfc3339: times as providers write them, read exactly. */
#ifndef WARMD_RFC3339_H
#define WARMD_RFC3339_H

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.F]Z" or "...+hh:mm"/"-hh:mm" (F: 1-9
 * digits; T and Z in either case; years 1970-9999; :60 is the next minute's
 * first second), nothing before or after → Unix seconds; -1 on anything
 * else. */
double rfc3339_parse(const char *s);

#endif
