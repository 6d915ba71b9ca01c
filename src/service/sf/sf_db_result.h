/* Secure factory service: the rows a statement returns, as text. A leaf of the database layer:
 * the dispatcher (sf_db.c) and both engines (sf_db_sqlite.c, sf_db_pg.c) use it, it uses none of
 * them. */
#ifndef KILN_SF_DB_RESULT_H
#define KILN_SF_DB_RESULT_H

#include <stddef.h>

typedef struct sf_db_result {
    int rows;
    int cols;
    char **cells; /* rows * cols, row-major; NULL cells are SQL NULL */
} sf_db_result;

/** The cell's text; NULL for SQL NULL or a cell outside the result. */
const char *sf_db_cell(const sf_db_result *res, int row, int col);
void sf_db_result_free(sf_db_result *res);

#endif
