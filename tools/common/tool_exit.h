/* The exit statuses of factory_tool, factory_client and factory_service: one set for the three
 * programs, documented in docs/factory-line.md ("Exit status") and the man pages. The numbered
 * code of a failure stays in the text or JSON the program prints; the exit status only says
 * which kind of ending it was, so a script can branch without parsing. */
#ifndef KILN_TOOL_EXIT_H
#define KILN_TOOL_EXIT_H

/** The command did what it was asked (a batch: every device succeeded or was skipped). */
#define TOOL_EXIT_OK 0
/** The operation failed; the numbered error says why. A batch: at least one device failed
 *  (its summary line counts them; the existing scripts of the line rely on 1 here). */
#define TOOL_EXIT_FAILED 1
/** The command line was wrong (unknown option, missing or bad value): usage and a numbered
 *  error, nothing done. */
#define TOOL_EXIT_USAGE 2
/** Stopped by SIGINT (Ctrl-C) after cleaning up: 128 + 2, as shells report it. */
#define TOOL_EXIT_INTERRUPTED 130
/** Stopped by SIGTERM after cleaning up: 128 + 15. */
#define TOOL_EXIT_TERMINATED 143

/** The exit status for a run stopped by signal sig (SIGINT 130, SIGTERM 143, else 128+sig). */
#define TOOL_EXIT_SIGNAL(sig) (128 + (sig))

#endif
