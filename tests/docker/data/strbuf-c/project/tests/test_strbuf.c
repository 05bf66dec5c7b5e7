/* Prints one line per check: "PASS: name" / "FAIL: name" (plain), TAP or a JUnit XML file,
 * and exits 1 when a check failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../src/strbuf.h"

static const char *format = "plain";
static int n, failed;
static FILE *xml;

static void check(int ok, const char *name)
{
	n++;
	failed += !ok;
	if (!strcmp(format, "tap"))
		printf("%sok %d - %s\n", ok ? "" : "not ", n, name);
	else if (!strcmp(format, "junit"))
		fprintf(xml, "  <testcase classname=\"strbuf\" name=\"%s\">%s</testcase>\n", name,
			ok ? "" : "<failure message=\"check failed\"/>");
	else
		printf("%s: %s\n", ok ? "PASS" : "FAIL", name);
}

int main(int argc, char **argv)
{
	struct strbuf sb;
	int i;

	if (argc > 1)
		format = argv[1];
	if (!strcmp(format, "junit")) {
		xml = fopen("tests/results.xml", "w");
		if (!xml)
			return 2;
		fprintf(xml, "<testsuite name=\"strbuf\">\n");
	}

	sb_init(&sb);
	check(sb.len == 0 && sb.buf == NULL, "init_empty");
	sb_append(&sb, "abc");
	check(sb.len == 3 && !strcmp(sb.buf, "abc"), "append_one");
	sb_append(&sb, "defgh");
	check(sb.len == 8 && !strcmp(sb.buf, "abcdefgh"), "append_grows");
	for (i = 0; i < 50; i++)
		sb_append(&sb, "xy");
	check(sb.len == 108 && sb.buf[107] == 'y', "append_many");
	sb_upper(&sb);
	check(!strncmp(sb.buf, "ABCDEFGH", 8), "upper");
	sb_free(&sb);
	check(sb.len == 0 && sb.buf == NULL, "free_resets");

	if (xml) {
		fprintf(xml, "</testsuite>\n");
		fclose(xml);
	}
	if (!strcmp(format, "tap"))
		printf("1..%d\n", n);
	return failed ? 1 : 0;
}
