/* Secure factory service: statement results (see sf_db_result.h). */
#include "sf_db_result.h"

#include <stdlib.h>
#include <string.h>

const char *sf_db_cell(const sf_db_result *res, int row, int col)
{
    if (res == NULL || row < 0 || row >= res->rows || col < 0 || col >= res->cols) {
        return NULL;
    }
    return res->cells[row * res->cols + col];
}

void sf_db_result_free(sf_db_result *res)
{
    if (res == NULL || res->cells == NULL) {
        return;
    }
    for (int i = 0; i < res->rows * res->cols; i++) {
        free(res->cells[i]);
    }
    free(res->cells);
    memset(res, 0, sizeof(*res));
}
