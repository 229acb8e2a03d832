/* static: a C program linked with the greet library's c-archive build
 * (lib/greet.a) and its header. */
#include <stdio.h>
#include <stdlib.h>

#include "greet.h"

int main(int argc, char **argv) {
	char *who = argc > 1 ? argv[1] : "world";
	char *v = greet_version();
	char *s = greet_shout(who);
	printf("version: %s\n", v);
	printf("shout: %s\n", s);
	printf("count: %d\n", greet_count(who));
	free(v);
	free(s);
	return 0;
}
