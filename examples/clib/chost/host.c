/* host: a C program that loads the greet library with dlopen, as a C plugin
 * host (nbdkit, say) loads a Go c-shared library, and calls its functions.
 *
 * usage: host LIBRARY.so [NAME]
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef char *(*str_fn)(void);
typedef char *(*shout_fn)(char *);
typedef int (*count_fn)(char *);

static void *need(void *lib, const char *name) {
	void *sym = dlsym(lib, name);
	if (sym == NULL) {
		fprintf(stderr, "host: %s: %s\n", name, dlerror());
		exit(1);
	}
	return sym;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: host LIBRARY.so [NAME]\n");
		return 2;
	}
	char *who = argc > 2 ? argv[2] : "world";
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "host: %s\n", dlerror());
		return 1;
	}
	str_fn version = (str_fn)need(lib, "greet_version");
	shout_fn shout = (shout_fn)need(lib, "greet_shout");
	count_fn count = (count_fn)need(lib, "greet_count");
	char *v = version();
	char *s = shout(who);
	printf("version: %s\n", v);
	printf("shout: %s\n", s);
	printf("count: %d\n", count(who));
	free(v);
	free(s);
	return 0;
}
