#include <stdio.h>
#include "geometry.h"

int main(void)
{
	struct point origin = { 0, 0 };
	struct point p = { 3, -4 };

	printf("%d\n", manhattan(origin, p));
	return manhattan(p, origin) == 7 ? 0 : 1;
}
