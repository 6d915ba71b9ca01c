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
/** A new file is written in place (open O_EXCL, write, close: a crash can leave it empty, never
 *  with another file's bytes); a file already there is replaced as line_file_replace does, so a
 *  complete file is never torn. Two syscalls fewer per new file than line_file_replace. */
int line_file_install(const char *path, const uint8_t *data, size_t len);
/** Removes path; a file that is not there is not an error. */
int line_file_remove(const char *path);
/** Writes all of data to fd (retrying short writes and EINTR). */
int line_file_write_all(int fd, const uint8_t *data, size_t len);

/* One ustar archive (POSIX tar) of many bundles, for lines that carry them on a USB stick:
 * entries NAME.EXT with mode 0600, each a 512-byte header and its data padded to 512 bytes. */
#define LINE_TAR_BLOCK 512u
/** Bytes an entry of len bytes takes in the archive. */
size_t line_tar_entry_size(size_t len);
/** Writes the entry (header and padded data) into out (line_tar_entry_size bytes); returns 0,
 *  or ENAMETOOLONG when NAME.EXT does not fit the 100-byte name field. */
int line_tar_entry(uint8_t *out, const char *name, const char *ext, const uint8_t *data, size_t len,
                   long long mtime);
/** The two zero blocks that end an archive. */
#define LINE_TAR_END_SIZE (2u * LINE_TAR_BLOCK)

/** DIR/NAME.EXT into buf. */
void line_file_path(char *buf, size_t size, const char *dir, const char *name, const char *ext);

#endif
