/* dl_int: the function tables behind lib/base/dl.h, for store_pg.c and http.c only.
 * Include it after <libpq-fe.h> / <curl/curl.h>: the names below then call
 * through the tables. */
#ifndef DL_INT_H
#define DL_INT_H

#define CURL_DISABLE_TYPECHECK  /* its macros would rename the table's members */
#include <curl/curl.h>
#include <libpq-fe.h>

#define DL_PQ_FUNCS \
	X(void, PQclear, (PGresult *)) \
	X(char *, PQcmdTuples, (PGresult *)) \
	X(PGconn *, PQconnectdbParams, (const char *const *, const char *const *, int)) \
	X(void, PQconninfoFree, (PQconninfoOption *)) \
	X(PQconninfoOption *, PQconninfoParse, (const char *, char **)) \
	X(char *, PQerrorMessage, (const PGconn *)) \
	X(PGresult *, PQexec, (PGconn *, const char *)) \
	X(PGresult *, PQexecParams, (PGconn *, const char *, int, const Oid *, const char *const *, \
				     const int *, const int *, int)) \
	X(void, PQfinish, (PGconn *)) \
	X(char *, PQfname, (const PGresult *, int)) \
	X(void, PQfreemem, (void *)) \
	X(Oid, PQftype, (const PGresult *, int)) \
	X(int, PQgetisnull, (const PGresult *, int, int)) \
	X(char *, PQgetvalue, (const PGresult *, int, int)) \
	X(int, PQnfields, (const PGresult *)) \
	X(int, PQntuples, (const PGresult *)) \
	X(char *, PQresultErrorField, (const PGresult *, int)) \
	X(char *, PQresultErrorMessage, (const PGresult *)) \
	X(ExecStatusType, PQresultStatus, (const PGresult *)) \
	X(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *, PQnoticeProcessor, void *)) \
	X(ConnStatusType, PQstatus, (const PGconn *))

#define DL_CURL_FUNCS \
	X(void, curl_easy_cleanup, (CURL *)) \
	X(CURLcode, curl_easy_getinfo, (CURL *, CURLINFO, ...)) \
	X(CURL *, curl_easy_init, (void)) \
	X(CURLcode, curl_easy_perform, (CURL *)) \
	X(CURLcode, curl_easy_setopt, (CURL *, CURLoption, ...)) \
	X(const char *, curl_easy_strerror, (CURLcode)) \
	X(time_t, curl_getdate, (const char *, const time_t *)) \
	X(CURLcode, curl_global_init, (long)) \
	X(struct curl_slist *, curl_slist_append, (struct curl_slist *, const char *)) \
	X(void, curl_slist_free_all, (struct curl_slist *))

#define X(ret, name, args) ret (*name) args;
struct dl_pq {
	int ready;
	struct { DL_PQ_FUNCS } fn;
};
struct dl_curl {
	int ready;
	struct { DL_CURL_FUNCS } fn;
};
#undef X

extern struct dl_pq dl_pq;
extern struct dl_curl dl_curl;

#ifdef DL_REDIRECT_PQ
#define PQclear (dl_pq.fn.PQclear)
#define PQcmdTuples (dl_pq.fn.PQcmdTuples)
#define PQconnectdbParams (dl_pq.fn.PQconnectdbParams)
#define PQconninfoFree (dl_pq.fn.PQconninfoFree)
#define PQconninfoParse (dl_pq.fn.PQconninfoParse)
#define PQerrorMessage (dl_pq.fn.PQerrorMessage)
#define PQexec (dl_pq.fn.PQexec)
#define PQexecParams (dl_pq.fn.PQexecParams)
#define PQfinish (dl_pq.fn.PQfinish)
#define PQfname (dl_pq.fn.PQfname)
#define PQfreemem (dl_pq.fn.PQfreemem)
#define PQftype (dl_pq.fn.PQftype)
#define PQgetisnull (dl_pq.fn.PQgetisnull)
#define PQgetvalue (dl_pq.fn.PQgetvalue)
#define PQnfields (dl_pq.fn.PQnfields)
#define PQntuples (dl_pq.fn.PQntuples)
#define PQresultErrorField (dl_pq.fn.PQresultErrorField)
#define PQresultErrorMessage (dl_pq.fn.PQresultErrorMessage)
#define PQresultStatus (dl_pq.fn.PQresultStatus)
#define PQsetNoticeProcessor (dl_pq.fn.PQsetNoticeProcessor)
#define PQstatus (dl_pq.fn.PQstatus)
#endif

#ifdef DL_REDIRECT_CURL
#define curl_easy_cleanup (dl_curl.fn.curl_easy_cleanup)
#undef curl_easy_getinfo
#define curl_easy_getinfo (dl_curl.fn.curl_easy_getinfo)
#define curl_easy_init (dl_curl.fn.curl_easy_init)
#define curl_easy_perform (dl_curl.fn.curl_easy_perform)
#undef curl_easy_setopt
#define curl_easy_setopt (dl_curl.fn.curl_easy_setopt)
#define curl_easy_strerror (dl_curl.fn.curl_easy_strerror)
#define curl_getdate (dl_curl.fn.curl_getdate)
#define curl_global_init (dl_curl.fn.curl_global_init)
#define curl_slist_append (dl_curl.fn.curl_slist_append)
#define curl_slist_free_all (dl_curl.fn.curl_slist_free_all)
#endif

#endif
