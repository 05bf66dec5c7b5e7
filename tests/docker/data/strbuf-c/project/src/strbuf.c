#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "strbuf.h"

void sb_init(struct strbuf *sb)
{
	sb->buf = NULL;
	sb->len = 0;
	sb->alloc = 0;
}

static int grow(struct strbuf *sb, size_t need)
{
	char *p;
	size_t alloc = sb->alloc ? sb->alloc : 8;

	while (alloc < need)
		alloc *= 2;
	if (alloc == sb->alloc)
		return 0;
	p = realloc(sb->buf, alloc);
	if (!p)
		return -1;
	sb->buf = p;
	sb->alloc = alloc;
	return 0;
}

int sb_append(struct strbuf *sb, const char *s)
{
	size_t n = strlen(s);

	if (grow(sb, sb->len + n + 1))
		return -1;
	memcpy(sb->buf + sb->len, s, n + 1);
	sb->len += n;
	return 0;
}

void sb_upper(struct strbuf *sb)
{
	size_t i;

	for (i = 0; i < sb->len; i++)
		sb->buf[i] = (char)toupper((unsigned char)sb->buf[i]);
}

void sb_free(struct strbuf *sb)
{
	free(sb->buf);
	sb_init(sb);
}
