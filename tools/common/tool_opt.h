/* The programs' one option parser: getopt_long, plus what every command needs around it (a
 * fresh scan per command, the user's mistake as a sentence, bounded numbers). */
#ifndef KILN_TOOL_OPT_H
#define KILN_TOOL_OPT_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

/** Prepares a getopt_long scan of a command's argv (argv[0] is the command). getopt_long then
 *  prints nothing: the command reports the problem in its own shape (tool_opt_problem). */
void tool_opt_begin(void);

/** After getopt_long returned '?' (unknown option) or ':' (missing value, when the option
 *  string starts with ':'): what is wrong, naming the option, into buf. */
void tool_opt_problem(int c, char **argv, char *buf, size_t size);

/** A decimal number 0..max with nothing around it. */
bool tool_opt_uint(const char *text, unsigned long max, unsigned long *out);

/** --version: "PROGRAM (kiln) VERSION" on stdout, the one version of CMake's project(). */
void tool_opt_version(const char *program);

#endif
