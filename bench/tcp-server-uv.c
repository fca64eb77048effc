/* tcp-server-uv.c: the libuv peer of the TCP echo benchmark (bench/README.md).
 *
 * uv_tcp_t server; each connection reads into one shared 64 KiB buffer and
 * echoes what it read with uv_try_write(), queueing a uv_write() of a copy
 * of whatever the socket did not take at once (the usual libuv echo, and
 * what uvloop's transports do).  Prints the port on stdout once listening;
 * runs until killed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <uv.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static char read_buf[65536];

typedef struct
{
  uv_write_t req;
  uv_buf_t   buf;
} WriteReq;

static void
on_close (uv_handle_t *handle)
{
  free (handle);
}

static void
on_alloc (uv_handle_t *handle,
          size_t       suggested,
          uv_buf_t    *buf)
{
  (void) handle;
  (void) suggested;
  *buf = uv_buf_init (read_buf, sizeof read_buf);
}

static void
on_write (uv_write_t *req,
          int         status)
{
  WriteReq *w = (WriteReq *) req;

  (void) status;
  free (w->buf.base);
  free (w);
}

static void
on_read (uv_stream_t    *stream,
         ssize_t         nread,
         const uv_buf_t *buf)
{
  uv_buf_t out;
  int sent;

  if (nread < 0)
    {
      uv_close ((uv_handle_t *) stream, on_close);
      return;
    }
  if (nread == 0)
    return;
  out = uv_buf_init (buf->base, (unsigned) nread);
  sent = uv_try_write (stream, &out, 1);
  if (sent == UV_EAGAIN || sent == UV_ENOSYS)
    sent = 0;
  if (sent < 0)
    {
      uv_close ((uv_handle_t *) stream, on_close);
      return;
    }
  if (sent < nread)
    {
      WriteReq *w = malloc (sizeof *w);

      w->buf = uv_buf_init (malloc (nread - sent), (unsigned) (nread - sent));
      memcpy (w->buf.base, buf->base + sent, nread - sent);
      if (uv_write (&w->req, stream, &w->buf, 1, on_write) != 0)
        {
          free (w->buf.base);
          free (w);
          uv_close ((uv_handle_t *) stream, on_close);
        }
    }
}

static void
on_connection (uv_stream_t *server,
               int          status)
{
  uv_tcp_t *client;

  if (status < 0)
    return;
  client = malloc (sizeof *client);
  uv_tcp_init (server->loop, client);
  if (uv_accept (server, (uv_stream_t *) client) != 0)
    {
      uv_close ((uv_handle_t *) client, on_close);
      return;
    }
  uv_tcp_nodelay (client, 1);
  uv_read_start ((uv_stream_t *) client, on_alloc, on_read);
}

int
main (int    argc,
      char **argv)
{
  uv_loop_t *loop = uv_default_loop ();
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int port = 0, len = sizeof bound, err;
  struct rlimit rl;
  uv_tcp_t server;

  if (argc == 3 && strcmp (argv[1], "--port") == 0)
    port = atoi (argv[2]);
  else if (argc != 1)
    {
      fprintf (stderr, "usage: tcp-server-uv [--port N]\n");
      return 2;
    }
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  uv_tcp_init (loop, &server);
  uv_ip4_addr ("127.0.0.1", port, &addr);
  if ((err = uv_tcp_bind (&server, (const struct sockaddr *) &addr, 0)) != 0 ||
      (err = uv_listen ((uv_stream_t *) &server, 4096, on_connection)) != 0)
    {
      fprintf (stderr, "tcp-server-uv: %s\n", uv_strerror (err));
      return 1;
    }
  uv_tcp_getsockname (&server, (struct sockaddr *) &bound, &len);
  printf ("%u\n", ntohs (((struct sockaddr_in *) &bound)->sin_port));
  fflush (stdout);
  return uv_run (loop, UV_RUN_DEFAULT);
}
