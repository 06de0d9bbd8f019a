/* The static web client: the files under the configured web root are read into memory once,
 * before the sandbox (the worker is chrooted into an empty directory afterwards and can open
 * nothing), and served read-only from there. Symlinks and special files are skipped. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

static const struct {
	const char *ext, *type;
} web_types[] = {
	{".html", "text/html; charset=utf-8"},
	{".htm", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".json", "application/json"},
	{".map", "application/json"},
	{".txt", "text/plain; charset=utf-8"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".jpg", "image/jpeg"},
	{".gif", "image/gif"},
	{".ico", "image/x-icon"},
	{".webp", "image/webp"},
	{".woff", "font/woff"},
	{".woff2", "font/woff2"},
	{".ttf", "font/ttf"},
	{".otf", "font/otf"},
	{".eot", "application/vnd.ms-fontobject"},
	{".mp3", "audio/mpeg"},
	{".ogg", "audio/ogg"},
	{".wasm", "application/wasm"},
};

static size_t web_total;

static const char *web_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof(web_types) / sizeof(web_types[0]); i++)
		if (strcmp(dot, web_types[i].ext) == 0)
			return web_types[i].type;
	return "application/octet-stream";
}

static int web_read(int fd, size_t size, uint8_t **out)
{
	uint8_t *p = malloc(size ? size : 1);
	size_t got = 0;
	if (!p)
		return -1;
	while (got < size) {
		ssize_t n = read(fd, p + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(p);
			return -1;
		}
		got += (size_t)n;
	}
	*out = p;
	return 0;
}

static int web_add(int dirfd, const char *name, const char *path)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return 0;	/* not a regular file: skipped */
	}
	if (henv->nfiles >= WEB_MAX_FILES || (size_t)st.st_size > WEB_MAX_TOTAL - web_total) {
		close(fd);
		log_err("web root too large", "files=%zu bytes=%zu", henv->nfiles, web_total);
		return -1;
	}
	struct web_file *nf = realloc(henv->files, (henv->nfiles + 1) * sizeof(*nf));
	if (!nf) {
		close(fd);
		return -1;
	}
	henv->files = nf;
	struct web_file *f = &henv->files[henv->nfiles];
	memset(f, 0, sizeof(*f));
	int rc = web_read(fd, (size_t)st.st_size, &f->data);
	close(fd);
	if (rc < 0 || !(f->path = strdup(path)))
		return -1;
	f->len = (size_t)st.st_size;
	f->type = web_type(path);
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (EVP_Digest(f->data, f->len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return -1;
	snprintf(f->etag, sizeof(f->etag), "\"%02x%02x%02x%02x%02x%02x%02x%02x\"", md[0], md[1], md[2],
		 md[3], md[4], md[5], md[6], md[7]);
	web_total += f->len;
	henv->nfiles++;
	return 0;
}

static int web_dir(int fd, const char *prefix, unsigned depth)
{
	if (depth > WEB_MAX_DEPTH) {
		close(fd);
		return 0;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;	/* ".", "..", and hidden files are never served */
		char path[WEB_MAX_PATH];
		int n = snprintf(path, sizeof(path), "%s/%s", prefix, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		if (e->d_type == DT_DIR) {
			int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (sub >= 0)
				rc = web_dir(sub, path, depth + 1);
		} else if (e->d_type == DT_REG) {
			rc = web_add(dirfd(d), e->d_name, path);
		}
	}
	closedir(d);
	return rc;
}

static int web_cmp(const void *a, const void *b)
{
	return strcmp(((const struct web_file *)a)->path, ((const struct web_file *)b)->path);
}

int http_web_load(const char *root)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_warn("web root not readable: no web client served", "path=\"%s\" errno=%d", root, errno);
		return 0;
	}
	if (web_dir(fd, "", 0) < 0)
		return -1;
	if (henv->nfiles)
		qsort(henv->files, henv->nfiles, sizeof(*henv->files), web_cmp);
	log_info("web client loaded", "path=\"%s\" files=%zu bytes=%zu", root, henv->nfiles, web_total);
	return 0;
}

const struct web_file *http_web_find(const char *path, size_t n)
{
	size_t lo = 0, hi = henv->nfiles;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *p = henv->files[mid].path;
		int c = strncmp(p, path, n);
		if (c == 0 && p[n] != 0)
			c = 1;
		if (c == 0)
			return &henv->files[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
