/* libpq, loaded at the first call (kiln_lazy.h). */
#include <string.h>

#include <libpq-fe.h>

#include "kiln_lazy.h"

#define PQ_FN(ret, name, params, args, fail) LAZY_FN(lazy_libpq, ret, name, params, args, fail)
#define PQ_VOID(name, params, args)          LAZY_VOID(lazy_libpq, name, params, args)

/* Entry points: without the library there is no connection, and the message says why. */
PQ_FN(PGconn *, PQconnectdb, (const char *conninfo), (conninfo), NULL)
PQ_FN(ConnStatusType, PQstatus, (const PGconn *conn), (conn), CONNECTION_BAD)
PQ_FN(char *, PQerrorMessage, (const PGconn *conn), (conn),
      (char *)lazy_why(&lazy_libpq, "no connection"))
PQ_VOID(PQfinish, (PGconn * conn), (conn))

/* Reached only through a connection, so the library is there. */
PQ_FN(int, PQbackendPID, (const PGconn *conn), (conn), 0)
PQ_VOID(PQreset, (PGconn * conn), (conn))
PQ_FN(PGTransactionStatusType, PQtransactionStatus, (const PGconn *conn), (conn), PQTRANS_UNKNOWN)
PQ_FN(PGresult *, PQexec, (PGconn * conn, const char *query), (conn, query), NULL)
PQ_FN(PGresult *, PQexecParams,
      (PGconn * conn, const char *command, int nParams, const Oid *paramTypes,
       const char *const *paramValues, const int *paramLengths, const int *paramFormats,
       int resultFormat),
      (conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat),
      NULL)
PQ_FN(PGresult *, PQprepare,
      (PGconn * conn, const char *stmtName, const char *query, int nParams, const Oid *paramTypes),
      (conn, stmtName, query, nParams, paramTypes), NULL)
PQ_FN(PGresult *, PQexecPrepared,
      (PGconn * conn, const char *stmtName, int nParams, const char *const *paramValues,
       const int *paramLengths, const int *paramFormats, int resultFormat),
      (conn, stmtName, nParams, paramValues, paramLengths, paramFormats, resultFormat), NULL)
PQ_VOID(PQclear, (PGresult * res), (res))
PQ_FN(ExecStatusType, PQresultStatus, (const PGresult *res), (res), PGRES_FATAL_ERROR)
PQ_FN(char *, PQresultErrorMessage, (const PGresult *res), (res),
      (char *)lazy_why(&lazy_libpq, "no result"))
PQ_FN(char *, PQcmdStatus, (PGresult * res), (res), NULL)
PQ_FN(char *, PQcmdTuples, (PGresult * res), (res), NULL)
PQ_FN(int, PQntuples, (const PGresult *res), (res), 0)
PQ_FN(int, PQnfields, (const PGresult *res), (res), 0)
PQ_FN(char *, PQfname, (const PGresult *res, int field_num), (res, field_num), NULL)
PQ_FN(Oid, PQftype, (const PGresult *res, int field_num), (res, field_num), 0)
PQ_FN(int, PQgetisnull, (const PGresult *res, int tup_num, int field_num),
      (res, tup_num, field_num), 1)
PQ_FN(int, PQgetlength, (const PGresult *res, int tup_num, int field_num),
      (res, tup_num, field_num), 0)
PQ_FN(char *, PQgetvalue, (const PGresult *res, int tup_num, int field_num),
      (res, tup_num, field_num), NULL)
PQ_FN(unsigned char *, PQunescapeBytea, (const unsigned char *strtext, size_t *retbuflen),
      (strtext, retbuflen), NULL)
PQ_VOID(PQfreemem, (void *ptr), (ptr))
