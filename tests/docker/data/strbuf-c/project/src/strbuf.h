#ifndef STRBUF_H
#define STRBUF_H
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t alloc;
};

void sb_init(struct strbuf *sb);
int sb_append(struct strbuf *sb, const char *s);
void sb_upper(struct strbuf *sb);
void sb_free(struct strbuf *sb);

#endif
