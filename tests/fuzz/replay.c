/* Replays fuzz inputs without libFuzzer: runs LLVMFuzzerTestOneInput over every file of each
 * directory (or file) argument, so `make unit` exercises every corpus. Never generates inputs. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (16u << 20)

/* Reads one file whole; 0 on success, -1 (message printed) otherwise. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	uint8_t *data = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			if (ncap > REPLAY_MAX_INPUT) {
				fprintf(stderr, "replay: %s: larger than %u bytes\n", path,
					REPLAY_MAX_INPUT);
				goto fail;
			}
			uint8_t *p = realloc(data, ncap);
			if (!p)
				goto fail;
			data = p;
			cap = ncap;
		}
		size_t n = fread(data + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		goto fail;
	}
	fclose(f);
	/* an exact-size copy so ASan catches reads past the input */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact) {
		free(data);
		return -1;
	}
	if (len)
		memcpy(exact, data, len);
	free(data);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
fail:
	free(data);
	fclose(f);
	return -1;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file of dir in name order; returns the count or -1. */
static long replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	long count = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **p = realloc(names, cap * sizeof(*names));
			if (!p)
				goto fail;
			names = p;
		}
		if (!(names[n] = strdup(e->d_name)))
			goto fail;
		n++;
	}
	closedir(d);
	d = NULL;
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		int w = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (w < 0 || (size_t)w >= sizeof(path)) {
			fprintf(stderr, "replay: %s/%s: path too long\n", dir, names[i]);
			goto fail;
		}
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (replay_file(path) < 0)
			goto fail;
		count++;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return count;
fail:
	if (d)
		closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		long n;
		if (S_ISDIR(st.st_mode)) {
			n = replay_dir(argv[i]);
		} else {
			n = replay_file(argv[i]) < 0 ? -1 : 1;
		}
		if (n < 0)
			return 1;
		if (n == 0) {
			fprintf(stderr, "replay: %s: no inputs\n", argv[i]);
			return 1;
		}
		printf("replayed %ld inputs from %s\n", n, argv[i]);
	}
	return 0;
}
