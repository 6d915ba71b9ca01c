/* Whole-file reads and writes of bundles, answers and operation contexts. Every file is
 * written 0600: bundles carry private keys. All return 0 or an errno value. */
#ifndef KILN_LINE_FILES_H
#define KILN_LINE_FILES_H

#include <stddef.h>
#include <stdint.h>

/** Reads a whole file (up to 64 MiB) into a malloc'ed buffer. */
int line_file_read(const char *path, uint8_t **data, size_t *len);
/** Creates or truncates path (mode 0600) and writes data. */
int line_file_write(const char *path, const uint8_t *data, size_t len);
/** Writes through path.tmp and a rename, so a reader never sees half a file. */
int line_file_replace(const char *path, const uint8_t *data, size_t len);
/** Removes path; a file that is not there is not an error. */
int line_file_remove(const char *path);
/** DIR/NAME.EXT into buf. */
void line_file_path(char *buf, size_t size, const char *dir, const char *name, const char *ext);

#endif
