#ifndef TEXTOPS_H
#define TEXTOPS_H

#include <stddef.h>

/* Clamp v into [lo, hi]. */
int clamp_int(int v, int lo, int hi);

/* Reverse the first n bytes of s in place. */
void reverse_bytes(char *s, size_t n);

/* Count occurrences of c in the NUL-terminated string s. */
size_t count_char(const char *s, char c);

#endif
