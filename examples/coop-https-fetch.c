/* coop-https-fetch.c: many HTTPS fetches at once, a few at a time.
 *
 *   coop-https-fetch [--limit 8] [--timeout 10000] [--ca-file FILE]
 *                    [--accept-certificate-of FILE] URL...
 *   coop-https-fetch [--count 60] [--limit 8]
 *
 * Fetches every URL (https:// only) over TLS with HTTP/1.1, one task per
 * URL, at most --limit connections open at once (a CoopSemaphore), each
 * fetch under a time limit, and prints the status and the body's size of
 * each.  The TLS layer is GIO's: certificates are checked against the
 * system's authorities, or those of --ca-file; --accept-certificate-of
 * trusts one self-signed server certificate (both build a GTlsDatabase,
 * GIO's way of trusting a peer).
 *
 * Without URLs it tests itself with no network: it makes a self-signed
 * certificate for 127.0.0.1 with `openssl req` in a temporary directory,
 * serves HTTPS on a CoopServer in the same loop (coop_server_set_tls), and
 * fetches --count URLs of known sizes from it, plain and chunked, plus one
 * that is not there (404).  The exit status is 0 only if every fetch
 * finished with the status and size expected (77: skipped, without
 * openssl or a TLS backend).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 100

typedef struct _Fetcher Fetcher;

typedef struct
{
  Fetcher *f;
  char   *url;
  int     expect_status;    /* self-test: what the server must answer, or 0 */
  gint64  expect_size;
  int     status;           /* 0: failed before a status line */
  gint64  size;
  char   *error;
} Job;

struct _Fetcher
{
  CoopLoop      *loop;
  GPtrArray     *jobs;       /* Job */
  GTlsDatabase  *database;   /* NULL: the system's */
  CoopSemaphore *slots;
  gint64         timeout_ms;
  guint          active;     /* connections open right now */
  guint          peak;       /* the most ever open at once */
  guint          failed;
};

/* --- the client ---------------------------------------------------------------- */

/* The next line (CRLF or LF), without its end; NULL with @error at EOF. */
static char *
read_line (CoopStream *stream, GError **error)
{
  g_autoptr(CoopFuture) read = coop_stream_read_line (stream);
  GBytes *bytes;
  const char *data;
  gsize len;

  if (!coop_await (read, error))
    return NULL;
  bytes = coop_future_get_bytes (read, error);
  data = g_bytes_get_data (bytes, &len);
  if (len == 0 || data[len - 1] != '\n')
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                           "The server closed the connection in the headers");
      return NULL;
    }
  len -= (len >= 2 && data[len - 2] == '\r') ? 2 : 1;
  return g_strndup (data, len);
}

/* Reads and counts @n body bytes (n < 0: up to the end of the stream). */
static gboolean
read_body (CoopStream *stream, gint64 n, gint64 *size, GError **error)
{
  while (n != 0)
    {
      g_autoptr(CoopFuture) read =
        coop_stream_read (stream, n < 0 ? 65536 : (gsize) MIN (n, 65536));
      gsize got;

      if (!coop_await (read, error))
        return FALSE;
      got = g_bytes_get_size (coop_future_get_bytes (read, NULL));
      if (got == 0)
        {
          if (n < 0)
            return TRUE;
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                               "The server closed the connection in the body");
          return FALSE;
        }
      *size += got;
      if (n > 0)
        n -= got;
    }
  return TRUE;
}

/* A chunked body (RFC 9112, section 7.1): size lines, data, trailers. */
static gboolean
read_chunked (CoopStream *stream, gint64 *size, GError **error)
{
  for (;;)
    {
      g_autofree char *line = read_line (stream, error);
      char *end;
      guint64 n;

      if (line == NULL)
        return FALSE;
      n = g_ascii_strtoull (line, &end, 16);
      if (end == line || (*end != '\0' && *end != ';' && *end != ' ') || n > G_MAXINT64)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Bad chunk size “%s”", line);
          return FALSE;
        }
      if (n == 0)
        break;
      if (!read_body (stream, (gint64) n, size, error))
        return FALSE;
      g_free (g_steal_pointer (&line));
      line = read_line (stream, error);   /* the CRLF after the data */
      if (line == NULL)
        return FALSE;
    }
  for (;;)   /* trailers, up to the empty line */
    {
      g_autofree char *line = read_line (stream, error);

      if (line == NULL)
        return FALSE;
      if (line[0] == '\0')
        return TRUE;
    }
}

static gboolean
fetch_one (Fetcher *f, Job *job, GError **error)
{
  const char * const alpn[] = { "http/1.1", NULL };
  g_autoptr(GUri) uri = g_uri_parse (job->url, G_URI_FLAGS_ENCODED, error);
  g_autoptr(CoopFuture) open = NULL;
  g_autoptr(CoopStream) stream = NULL;
  g_autofree char *request = NULL;
  g_autofree char *status_line = NULL;
  const char *path;
  gint64 length = -1;
  gboolean chunked = FALSE;
  gboolean ok;
  int i;

  if (uri == NULL)
    return FALSE;
  if (g_strcmp0 (g_uri_get_scheme (uri), "https") != 0 || g_uri_get_host (uri) == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "Not an https:// URL");
      return FALSE;
    }

  /* Connect and handshake; the host name is checked against the
   * certificate, and sent as SNI. */
  open = coop_stream_open_tls (f->loop, g_uri_get_host (uri),
                               g_uri_get_port (uri) > 0 ? g_uri_get_port (uri) : 443,
                               f->database, alpn);
  if (!coop_await (open, error))
    return FALSE;
  stream = coop_stream_open_finish (open, error);
  f->active++;
  f->peak = MAX (f->peak, f->active);

  path = g_uri_get_path (uri)[0] != '\0' ? g_uri_get_path (uri) : "/";
  request = g_strdup_printf ("GET %s%s%s HTTP/1.1\r\n"
                             "Host: %s\r\n"
                             "User-Agent: coop-https-fetch\r\n"
                             "Accept-Encoding: identity\r\n"
                             "Connection: close\r\n\r\n",
                             path, g_uri_get_query (uri) != NULL ? "?" : "",
                             g_uri_get_query (uri) != NULL ? g_uri_get_query (uri) : "",
                             g_uri_get_host (uri));
  ok = coop_stream_write_data (stream, (const guint8 *) request, strlen (request), error);

  /* "HTTP/1.1 200 OK", then the headers up to an empty line. */
  if (ok && (status_line = read_line (stream, error)) == NULL)
    ok = FALSE;
  if (ok && (!g_str_has_prefix (status_line, "HTTP/1.") || strlen (status_line) < 12 ||
             (job->status = (int) g_ascii_strtoll (status_line + 9, NULL, 10)) < 100))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Bad status line “%s”", status_line);
      ok = FALSE;
    }
  for (i = 0; ok; i++)
    {
      g_autofree char *line = read_line (stream, error);

      if (line == NULL || i == MAX_HEADERS)
        {
          if (line != NULL)
            g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Too many headers");
          ok = FALSE;
        }
      else if (line[0] == '\0')
        break;
      else if (g_ascii_strncasecmp (line, "Content-Length:", 15) == 0)
        length = g_ascii_strtoll (line + 15, NULL, 10);
      else if (g_ascii_strncasecmp (line, "Transfer-Encoding:", 18) == 0)
        chunked = strstr (line + 18, "chunked") != NULL;
    }

  /* The body: chunked, a length, or up to the end of the stream. */
  if (ok)
    ok = chunked ? read_chunked (stream, &job->size, error)
                 : read_body (stream, length, &job->size, error);
  f->active--;
  coop_stream_close (stream);   /* sends close_notify */
  return ok;
}

/* One task per URL.  It never fails itself: it records the outcome, so
 * one bad fetch does not cancel the others in the group. */
static void
fetch_task (CoopTask *task, gpointer data)
{
  Job *job = data;
  Fetcher *f = job->f;
  g_autoptr(CoopFuture) slot = coop_semaphore_acquire (f->slots);
  g_autoptr(CoopTimeout) limit = NULL;
  g_autoptr(GError) error = NULL;

  if (!coop_await (slot, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;   /* cancelled while queued: no slot held */
    }
  limit = coop_timeout_enter (f->timeout_ms * G_TIME_SPAN_MILLISECOND, NULL);
  fetch_one (f, job, &error);
  coop_timeout_exit (limit, &error);
  coop_semaphore_release (f->slots, NULL);

  if (error != NULL)
    job->error = g_strdup (error->message);
  if (job->expect_status != 0 && error == NULL &&
      (job->status != job->expect_status || job->size != job->expect_size))
    job->error = g_strdup_printf ("expected %d with %" G_GINT64_FORMAT " bytes",
                                  job->expect_status, job->expect_size);
  if (job->error != NULL)
    {
      f->failed++;
      g_print ("FAIL %s: %s\n", job->url, job->error);
    }
  else
    g_print ("%d %8" G_GINT64_FORMAT " bytes  %s\n", job->status, job->size, job->url);
}

static void
fetch_all (CoopTask *task, gpointer data)
{
  Fetcher *f = data;
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (f->loop);
  GError *error = NULL;

  for (guint i = 0; i < f->jobs->len; i++)
    coop_task_group_spawn (group, "fetch", fetch_task, f->jobs->pdata[i], NULL);
  if (!coop_task_group_join (group, &error))
    coop_future_take_error (COOP_FUTURE (task), error);
}

/* --- the self-test's server --------------------------------------------------------- */

/* GET /bytes/N: N bytes with a Content-Length; /chunked/N: N bytes in
 * chunks of at most 8000; anything else: 404. */
static void
serve (CoopTask *task, CoopStream *stream, gpointer data)
{
  g_autofree char *request = NULL;
  g_autofree char *head = NULL;
  g_autofree guint8 *body = NULL;
  gint64 n = -1;
  gboolean chunked = FALSE;
  char path[64];

  (void) task;
  (void) data;
  if ((request = read_line (stream, NULL)) == NULL)
    return;
  for (;;)   /* the headers: not needed here */
    {
      g_autofree char *line = read_line (stream, NULL);

      if (line == NULL)
        return;
      if (line[0] == '\0')
        break;
    }
  if (sscanf (request, "GET %63s", path) == 1)
    {
      if (g_str_has_prefix (path, "/bytes/"))
        n = g_ascii_strtoll (path + 7, NULL, 10);
      else if (g_str_has_prefix (path, "/chunked/"))
        n = g_ascii_strtoll (path + 9, NULL, 10), chunked = TRUE;
    }
  if (n < 0 || n > 16 * 1024 * 1024)
    {
      static const char not_found[] =
        "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\nConnection: close\r\n\r\nNot found\n";

      coop_stream_write_data (stream, (const guint8 *) not_found, strlen (not_found), NULL);
      return;
    }
  body = g_malloc (MAX (n, 1));
  memset (body, 'x', n);
  if (chunked)
    {
      head = g_strdup ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
      coop_stream_write_data (stream, (const guint8 *) head, strlen (head), NULL);
      for (gint64 off = 0; off < n; off += 8000)
        {
          g_autofree char *size = g_strdup_printf ("%" G_GINT64_MODIFIER "x\r\n", MIN (8000, n - off));

          coop_stream_write_data (stream, (const guint8 *) size, strlen (size), NULL);
          coop_stream_write_data (stream, body + off, MIN (8000, n - off), NULL);
          coop_stream_write_data (stream, (const guint8 *) "\r\n", 2, NULL);
        }
      coop_stream_write_data (stream, (const guint8 *) "0\r\n\r\n", 5, NULL);
    }
  else
    {
      head = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Length: %" G_GINT64_FORMAT "\r\n"
                              "Connection: close\r\n\r\n", n);
      coop_stream_write_data (stream, (const guint8 *) head, strlen (head), NULL);
      coop_stream_write_data (stream, body, n, NULL);
    }
  /* The server closes the stream when the handler returns: it flushes
   * what is buffered, then sends close_notify. */
}

/* A self-signed certificate for 127.0.0.1 in @dir (openssl's command). */
static gboolean
make_certificate (const char *dir, char **cert, char **key, GError **error)
{
  g_autofree char *cert_path = g_build_filename (dir, "cert.pem", NULL);
  g_autofree char *key_path = g_build_filename (dir, "key.pem", NULL);
  const char *argv[] = {
    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout", key_path, "-out", cert_path, NULL
  };
  int status;

  if (!g_spawn_sync (NULL, (char **) argv, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, error) ||
      !g_spawn_check_wait_status (status, error))
    return FALSE;
  *cert = g_steal_pointer (&cert_path);
  *key = g_steal_pointer (&key_path);
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autofree char *ca_file = NULL;
  g_autofree char *accept_of = NULL;
  int count = 60, limit = 8, timeout_ms = 10000;
  GOptionEntry entries[] = {
    { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file,
      "Trust the certificate authorities in FILE (PEM) instead of the system's", "FILE" },
    { "accept-certificate-of", 0, 0, G_OPTION_ARG_FILENAME, &accept_of,
      "Trust the (self-signed) server certificate in FILE (PEM)", "FILE" },
    { "limit", 'l', 0, G_OPTION_ARG_INT, &limit, "Most connections open at once (default: 8)", "N" },
    { "timeout", 't', 0, G_OPTION_ARG_INT, &timeout_ms, "Time limit of one fetch, in ms (default: 10000)", "MS" },
    { "count", 'n', 0, G_OPTION_ARG_INT, &count, "Without URLs: fetches from the local server (default: 60)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("[URL...] - fetch URLs over HTTPS, a few at a time");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) jobs = g_ptr_array_new ();
  g_autoptr(CoopServer) server = NULL;
  g_autoptr(CoopTask) task = NULL;
  g_autofree char *tmpdir = NULL;
  g_autofree char *cert_path = NULL;
  g_autofree char *key_path = NULL;
  Fetcher f = { 0 };
  gint64 start, total = 0;
  int status = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (limit <= 0 || timeout_ms <= 0 || count <= 0 || (ca_file != NULL && accept_of != NULL))
    {
      g_printerr ("need positive --limit, --timeout and --count, and at most one of "
                  "--ca-file and --accept-certificate-of\n");
      return 2;
    }

  f.loop = coop_loop_get_default ();
  f.timeout_ms = timeout_ms;
  f.slots = coop_semaphore_new (f.loop, limit);

  if (argc > 1)
    {
      for (int i = 1; i < argc; i++)
        {
          Job *job = g_new0 (Job, 1);

          job->f = &f;
          job->url = g_strdup (argv[i]);
          g_ptr_array_add (jobs, job);
        }
    }
  else
    {
      /* The self-test: a local HTTPS server with a fresh certificate. */
      g_autoptr(GTlsCertificate) certificate = NULL;

      if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
        {
          g_printerr ("skipped: no TLS backend (install glib-networking)\n");
          return 77;
        }
      if ((tmpdir = g_dir_make_tmp ("coop-https-fetch-XXXXXX", &error)) == NULL)
        {
          g_printerr ("%s\n", error->message);
          return 1;
        }
      if (!make_certificate (tmpdir, &cert_path, &key_path, &error))
        {
          g_printerr ("skipped: cannot make a certificate with openssl: %s\n", error->message);
          g_rmdir (tmpdir);
          return 77;
        }
      certificate = g_tls_certificate_new_from_files (cert_path, key_path, &error);
      server = certificate == NULL ? NULL
             : coop_server_new_tcp (f.loop, "127.0.0.1", 0, 128, serve, NULL, NULL, &error);
      if (server == NULL)
        {
          g_printerr ("cannot start the local server: %s\n", error->message);
          return 1;
        }
      coop_server_set_tls (server, certificate, NULL, 10 * G_USEC_PER_SEC);
      accept_of = g_strdup (cert_path);
      for (int i = 0; i < count; i++)
        {
          Job *job = g_new0 (Job, 1);
          gboolean chunked = i % 3 == 2;

          job->f = &f;
          /* Sizes from a few bytes to a few hundred kilobytes. */
          job->expect_size = (gint64) (i * i * 97) % 100000;
          job->expect_status = 200;
          job->url = g_strdup_printf ("https://127.0.0.1:%u/%s/%" G_GINT64_FORMAT,
                                      coop_server_get_port (server),
                                      chunked ? "chunked" : "bytes", job->expect_size);
          if (i == count - 1)
            {
              g_free (job->url);
              job->url = g_strdup_printf ("https://127.0.0.1:%u/missing", coop_server_get_port (server));
              job->expect_status = 404;
              job->expect_size = 10;
            }
          g_ptr_array_add (jobs, job);
        }
    }

  /* Whom to trust: GIO's GTlsDatabase, from a file of PEM certificates
   * (a self-signed certificate is its own authority); NULL: the system's. */
  if (ca_file != NULL || accept_of != NULL)
    {
      /* GTlsFileDatabase wants an absolute path. */
      g_autofree char *path = g_canonicalize_filename (ca_file != NULL ? ca_file : accept_of, NULL);

      f.database = g_tls_file_database_new (path, &error);
      if (f.database == NULL)
        {
          g_printerr ("%s\n", error->message);
          return 2;
        }
    }

  f.jobs = jobs;
  task = coop_task_new_full (f.loop, "fetch-all", 0, fetch_all, &f, NULL);
  start = g_get_monotonic_time ();
  if (!coop_loop_run_until_complete (f.loop, COOP_FUTURE (task), &error))
    {
      g_printerr ("fetching failed: %s\n", error->message);
      status = 1;
    }
  for (guint i = 0; i < jobs->len; i++)
    total += ((Job *) jobs->pdata[i])->size;
  g_print ("%u URLs, %" G_GINT64_FORMAT " bytes in %.0f ms, at most %u connections at once "
           "(limit %d): %u failed\n",
           jobs->len, total, (g_get_monotonic_time () - start) / 1000.0, f.peak, limit, f.failed);
  if (f.failed > 0 || f.peak > (guint) limit)
    status = 1;

  if (server != NULL)
    {
      g_autoptr(CoopFuture) closed = coop_server_wait_closed (server);

      coop_server_close (server);
      coop_loop_run_until_complete (f.loop, closed, NULL);
    }
  for (guint i = 0; i < jobs->len; i++)
    {
      Job *job = jobs->pdata[i];

      g_free (job->url);
      g_free (job->error);
      g_free (job);
    }
  if (tmpdir != NULL)
    {
      g_unlink (cert_path);
      g_unlink (key_path);
      g_rmdir (tmpdir);
    }
  g_clear_object (&f.database);
  g_object_unref (f.slots);
  coop_loop_close (f.loop);
  return status;
}
