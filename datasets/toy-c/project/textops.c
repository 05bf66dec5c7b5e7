#include "textops.h"

int clamp_int(int v, int lo, int hi)
{
	if (v < lo)
		return lo;
	if (v > hi)
		return hi;
	return v;
}

void reverse_bytes(char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n / 2; i++) {
		char t = s[i];
		s[i] = s[n - 1 - i];
		s[n - 1 - i] = t;
	}
}

size_t count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		if (*s == c)
			n++;
	return n;
}
