/* _transport.c: the per-request methods of asyncio's socket transport,
 * compiled (part of coop._speedups).
 *
 * coop.EventLoop's TCP and Unix stream transports are asyncio's own
 * _SelectorSocketTransport, as a subclass (_loop.py, _SocketTransport)
 * whose methods that run for every request are the C functions below:
 * _read_ready (the reader callback the loop runs when the socket is
 * readable), _read_ready__data_received (recv, then the protocol's
 * data_received), write, is_closing, and abort.  Each does what the
 * Python method of CPython 3.11 does, through the transport's own
 * attributes, so everything else in the class (buffering, flow control,
 * close, sendfile, start_tls) works on the same state.  Whatever is off
 * the common path - a memoryview, a buffer that already holds data, a
 * lost connection, EOF written - is handed to the Python method, which
 * does the checks and the rest itself.  In debug mode the loop makes the
 * plain class.
 *
 * They save three Python frames per request, and recv()/send() go to the
 * socket's fd directly (sock_recv, sock_send).  While the loop runs
 * callbacks, write() only buffers and queues the transport: the loop
 * sends every queued buffer at the end of the iteration (flush_writes in
 * _speedups.c, coop_py_transport_flush here); abort() first tries to send
 * what was queued.  docs/design-notes.md tells why, with the figures.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <sys/socket.h>

#include "_speedups.h"

/* The first recv() of a read goes to this buffer (see sock_recv). */
#define SMALL_READ 16384
static char small_buf[SMALL_READ];
static PyObject *socket_type;      /* socket.socket */
static PyObject *str_fileno;

static PyObject *base_write;       /* _SelectorSocketTransport.write */
static PyObject *base_abort;       /* and abort */
static PyObject *str_conn_lost, *str_sock, *str_max_size, *str_protocol,
                *str_fatal_error, *str_on_eof, *str_data_received, *str_recv,
                *str_send, *str_read_ready_cb, *str_closing, *str_eof,
                *str_empty_waiter, *str_buffer, *str_loop, *str_add_writer,
                *str_sock_fd, *str_write_ready, *str_extend, *str_maybe_pause,
                *str_high_water, *str_protocol_paused;
static PyObject *msg_read, *msg_received, *msg_write;

/* An attribute of the transport: from its instance dict when it is there
 * (some 35 instructions, against 90 through PyObject_GetAttr, which looks
 * at the type's descriptors first; the class defines none of these names),
 * else the usual lookup (max_size is a class attribute). */
static PyObject *
attr (PyObject *self, PyObject *dict, PyObject *name)
{
  PyObject *v = dict ? PyDict_GetItemWithError (dict, name) : NULL;

  if (v != NULL)
    return Py_NewRef (v);
  if (PyErr_Occurred ())
    return NULL;
  return PyObject_GetAttr (self, name);
}

/* The transport's instance dict (a new reference), or NULL when it has
 * none (then every attribute is looked up the usual way). */
static PyObject *
dict_of (PyObject *self)
{
  PyObject *dict = PyObject_GenericGetDict (self, NULL);

  if (dict == NULL || !PyDict_CheckExact (dict))
    {
      PyErr_Clear ();
      Py_CLEAR (dict);
    }
  return dict;
}

/* An attribute's truth value: 1, 0, or -1 with an exception set. */
static int
attr_true (PyObject *self, PyObject *dict, PyObject *name)
{
  PyObject *v = attr (self, dict, name);
  int r;

  if (v == NULL)
    return -1;
  r = PyObject_IsTrue (v);
  Py_DECREF (v);
  return r;
}

/* The `except` clauses of the methods: SystemExit and KeyboardInterrupt
 * propagate (returns NULL), anything else goes to self._fatal_error(exc,
 * message) (returns None, or NULL if that raised). */
static PyObject *
fatal_error (PyObject *self, PyObject *message)
{
  PyObject *value, *r;

  if (PyErr_ExceptionMatches (PyExc_SystemExit) ||
      PyErr_ExceptionMatches (PyExc_KeyboardInterrupt))
    return NULL;
  value = coop_py_take_exception ();
  r = PyObject_CallMethodObjArgs (self, str_fatal_error, value, message, NULL);
  Py_XDECREF (value);
  if (r == NULL)
    return NULL;
  Py_DECREF (r);
  Py_RETURN_NONE;
}

/* A BlockingIOError or InterruptedError: the call is tried again when the
 * socket is ready (the exception is cleared). */
static int
would_block_error (void)
{
  if (PyErr_ExceptionMatches (PyExc_BlockingIOError) ||
      PyErr_ExceptionMatches (PyExc_InterruptedError))
    {
      PyErr_Clear ();
      return 1;
    }
  return 0;
}

/* The fd of a socket.socket (-1 once closed, as fileno() says), or -2
 * with an exception set. */
static int
sock_fd (PyObject *sock)
{
  PyObject *v = PyObject_CallMethodNoArgs (sock, str_fileno);
  long fd;

  if (v == NULL)
    return -2;
  fd = PyLong_AsLong (v);
  Py_DECREF (v);
  if (fd == -1 && PyErr_Occurred ())
    return -2;
  return (int) fd;
}

/* One recv() or send() as socket.socket's methods make it on a
 * non-blocking socket, with MSG_DONTWAIT (it never waits, whatever the
 * socket's mode: the loop only calls when the socket is ready) and the GIL
 * kept (it does not wait, and small_buf needs it).  EINTR runs the signal
 * handlers and tries again, as CPython does (PEP 475).  Returns the count,
 * -2 when it would block, or -1 with OSError set. */
static Py_ssize_t
sock_io (int fd, char *buf, size_t len, int sending)
{
  for (;;)
    {
      ssize_t n = sending ? send (fd, buf, len, MSG_DONTWAIT)
                          : recv (fd, buf, len, MSG_DONTWAIT);

      if (n >= 0)
        return n;
      if (errno == EINTR)
        {
          if (PyErr_CheckSignals () < 0)
            return -1;
          continue;
        }
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return -2;
      PyErr_SetFromErrno (PyExc_OSError);
      return -1;
    }
}

/* sock.recv(size), without the allocation of @size bytes it makes (256 KiB
 * for asyncio's transports: a malloc and a realloc down to the few bytes
 * read, some 500 instructions a read).  The first recv() fills small_buf;
 * only when that came back full is a bytes object of @size made for a
 * second one.  Returns the data; or NULL with *would_block set; or NULL
 * with an exception.  An exception of the second recv() (an OSError, or
 * whatever a signal handler raised) is not lost: the data goes first, and
 * *later holds the exception, to be raised after it as the next recv()
 * would have. */
static PyObject *
sock_recv (PyObject *sock, PyObject *sizeobj, int *would_block, PyObject **later)
{
  Py_ssize_t size, n, m;
  PyObject *data;
  int fd;

  *would_block = 0;
  *later = NULL;
  size = PyLong_Check (sizeobj) ? PyLong_AsSsize_t (sizeobj) : -1;
  if ((PyObject *) Py_TYPE (sock) != socket_type || size < 0)
    {
      /* Someone else's socket class, or a size recv() refuses. */
      PyErr_Clear ();
      data = PyObject_CallMethodOneArg (sock, str_recv, sizeobj);
      if (data == NULL && would_block_error ())
        *would_block = 1;
      return data;
    }
  if ((fd = sock_fd (sock)) == -2)
    return NULL;
  n = sock_io (fd, small_buf, size < SMALL_READ ? (size_t) size : SMALL_READ, 0);
  if (n == -2)
    *would_block = 1;
  if (n < 0)
    return NULL;
  if (n < SMALL_READ || size == SMALL_READ)
    return PyBytes_FromStringAndSize (small_buf, n);

  data = PyBytes_FromStringAndSize (NULL, size);
  if (data == NULL)
    return NULL;
  memcpy (PyBytes_AS_STRING (data), small_buf, SMALL_READ);
  m = sock_io (fd, PyBytes_AS_STRING (data) + SMALL_READ, size - SMALL_READ, 0);
  if (m == -1)
    *later = coop_py_take_exception ();
  if (m < 0)
    m = 0;
  if (_PyBytes_Resize (&data, SMALL_READ + m) < 0)
    {
      Py_CLEAR (*later);
      return NULL;
    }
  return data;
}

/* sock.send(data) for bytes or a bytearray: the count, -2 when it would
 * block, or -1 with an exception set. */
static Py_ssize_t
sock_send (PyObject *sock, PyObject *data)
{
  PyObject *sent;
  Py_ssize_t n;
  int fd;

  if ((PyObject *) Py_TYPE (sock) != socket_type)
    {
      sent = PyObject_CallMethodOneArg (sock, str_send, data);
      if (sent == NULL)
        return would_block_error () ? -2 : -1;
      n = PyLong_AsSsize_t (sent);
      Py_DECREF (sent);
      return n == -1 && PyErr_Occurred () ? -1 : n;
    }
  if ((fd = sock_fd (sock)) == -2)
    return -1;
  /* The GIL is kept: nobody resizes a bytearray meanwhile. */
  if (PyBytes_CheckExact (data))
    return sock_io (fd, PyBytes_AS_STRING (data), PyBytes_GET_SIZE (data), 1);
  return sock_io (fd, PyByteArray_AS_STRING (data), PyByteArray_GET_SIZE (data), 1);
}

static PyObject *
transport_read_ready__data_received (PyObject *self, PyObject *unused)
{
  PyObject *dict = dict_of (self);
  PyObject *sock = NULL, *size = NULL, *data = NULL, *protocol = NULL, *r = NULL;
  PyObject *later = NULL;
  int lost = attr_true (self, dict, str_conn_lost);
  int blocked;

  if (lost != 0)
    {
      if (lost > 0)
        r = Py_NewRef (Py_None);
      goto out;
    }
  if ((sock = attr (self, dict, str_sock)) == NULL ||
      (size = attr (self, dict, str_max_size)) == NULL)
    goto out;
  data = sock_recv (sock, size, &blocked, &later);
  if (data == NULL)
    {
      r = blocked ? Py_NewRef (Py_None) : fatal_error (self, msg_read);
      goto out;
    }

  switch (PyObject_IsTrue (data))
    {
    case -1:
      goto out;
    case 0:
      r = PyObject_CallMethodNoArgs (self, str_on_eof);
      if (r != NULL)
        Py_SETREF (r, Py_NewRef (Py_None));
      goto out;
    }

  if ((protocol = attr (self, dict, str_protocol)) == NULL)
    goto out;
  r = PyObject_CallMethodOneArg (protocol, str_data_received, data);
  if (r == NULL)
    r = fatal_error (self, msg_received);
  else
    {
      Py_SETREF (r, Py_NewRef (Py_None));
      if (later != NULL)
        {
          /* What the next recv() would have raised. */
          PyErr_SetObject ((PyObject *) Py_TYPE (later), later);
          Py_CLEAR (later);
          Py_SETREF (r, fatal_error (self, msg_read));
        }
    }

out:
  Py_XDECREF (later);   /* (data_received failed: the transport is closed) */
  Py_XDECREF (dict);
  Py_XDECREF (sock);
  Py_XDECREF (size);
  Py_XDECREF (data);
  Py_XDECREF (protocol);
  return r;
}

static PyObject *
transport_read_ready (PyObject *self, PyObject *unused)
{
  PyObject *dict = dict_of (self);
  PyObject *cb = attr (self, dict, str_read_ready_cb);
  int r;

  Py_XDECREF (dict);
  if (cb == NULL)
    return NULL;
  r = coop_py_discard (PyObject_CallNoArgs (cb));
  Py_DECREF (cb);
  return r < 0 ? NULL : Py_NewRef (Py_None);
}

static PyObject *
transport_is_closing (PyObject *self, PyObject *unused)
{
  return PyObject_GetAttr (self, str_closing);
}

/* self._loop._add_writer(self._sock_fd, self._write_ready): the rest of
 * the buffer waits for the socket to be writable. */
static int
wait_writable (PyObject *self)
{
  PyObject *loop, *fd, *cb, *r;

  loop = PyObject_GetAttr (self, str_loop);
  fd = loop ? PyObject_GetAttr (self, str_sock_fd) : NULL;
  cb = fd ? PyObject_GetAttr (self, str_write_ready) : NULL;
  r = cb ? PyObject_CallMethodObjArgs (loop, str_add_writer, fd, cb, NULL) : NULL;
  Py_XDECREF (loop);
  Py_XDECREF (fd);
  Py_XDECREF (cb);
  return coop_py_discard (r);
}

/* self._buffer.extend(data), then self._maybe_pause_protocol() when the
 * buffer has passed the high-water mark (the method looks at nothing
 * else; a mark that is not a plain int is left to it). */
static PyObject *
buffer_data (PyObject *self, PyObject *data)
{
  PyObject *buffer = PyObject_GetAttr (self, str_buffer);
  PyObject *high;
  Py_ssize_t size, mark;
  int r;

  if (buffer == NULL)
    return NULL;
  r = coop_py_discard (PyObject_CallMethodOneArg (buffer, str_extend, data));
  size = PyObject_Length (buffer);
  Py_DECREF (buffer);
  if (r < 0 || size < 0 || (high = PyObject_GetAttr (self, str_high_water)) == NULL)
    return NULL;
  mark = PyLong_CheckExact (high) ? PyLong_AsSsize_t (high) : -1;
  Py_DECREF (high);
  PyErr_Clear ();       /* (a mark past Py_ssize_t: as not a plain int) */
  if (mark >= 0 && size <= mark)
    Py_RETURN_NONE;
  if (coop_py_discard (PyObject_CallMethodNoArgs (self, str_maybe_pause)) < 0)
    return NULL;
  Py_RETURN_NONE;
}

/* What write() does with the data its send() left: the writer callback
 * registered, the rest buffered, the protocol maybe paused. */
static PyObject *
write_rest (PyObject *self, PyObject *rest)
{
  return wait_writable (self) < 0 ? NULL : buffer_data (self, rest);
}

int
coop_py_transport_flush (PyObject *self)
{
  PyObject *dict = dict_of (self);
  PyObject *buffer = NULL, *sock = NULL, *r = NULL, *v;
  Py_ssize_t len, n;
  int t, result = -1;

  if ((t = attr_true (self, dict, str_conn_lost)) != 0)
    {
      result = t < 0 ? -1 : 0;
      goto out;
    }
  if ((buffer = attr (self, dict, str_buffer)) == NULL)
    goto out;
  if (!PyByteArray_CheckExact (buffer) || (len = PyByteArray_GET_SIZE (buffer)) == 0)
    {
      result = 0;   /* aborted, or sent by someone else since */
      goto out;
    }
  /* The common case in C: nothing but the data to send.  Everything else
   * (closing, EOF to write, a sendfile waiting, the protocol paused) is
   * asyncio's _write_ready(). */
  if ((v = attr (self, dict, str_empty_waiter)) == NULL)
    goto out;
  Py_DECREF (v);
  if (v != Py_None || (t = attr_true (self, dict, str_closing)) != 0 ||
      (t = attr_true (self, dict, str_eof)) != 0 ||
      (t = attr_true (self, dict, str_protocol_paused)) != 0)
    {
      if (t < 0)
        goto out;
      r = PyObject_CallMethodNoArgs (self, str_write_ready);
      if (r == NULL)
        goto out;
      Py_CLEAR (r);
      len = PyByteArray_GET_SIZE (buffer);
      if (len == 0 || (t = attr_true (self, dict, str_conn_lost)) != 0)
        {
          result = t < 0 ? -1 : 0;
          goto out;
        }
      goto writable;
    }

  if ((sock = attr (self, dict, str_sock)) == NULL)
    goto out;
  n = sock_send (sock, buffer);
  if (n == -1)
    {
      /* As _write_ready(): the buffer dropped, the transport closed. */
      PyObject *type, *value, *tb;

      if (PyErr_ExceptionMatches (PyExc_SystemExit) ||
          PyErr_ExceptionMatches (PyExc_KeyboardInterrupt))
        goto out;
      PyErr_Fetch (&type, &value, &tb);
      if (PyByteArray_Resize (buffer, 0) < 0)
        {
          Py_XDECREF (type);
          Py_XDECREF (value);
          Py_XDECREF (tb);
          goto out;
        }
      PyErr_Restore (type, value, tb);
      r = fatal_error (self, msg_write);
      result = r == NULL ? -1 : 0;
      goto out;
    }
  if (n == -2)
    n = 0;
  if (n >= len)
    {
      result = PyByteArray_Resize (buffer, 0) < 0 ? -1 : 0;
      goto out;
    }
  if (n > 0)
    {
      /* del buffer[:n] */
      memmove (PyByteArray_AS_STRING (buffer), PyByteArray_AS_STRING (buffer) + n, len - n);
      if (PyByteArray_Resize (buffer, len - n) < 0)
        goto out;
    }

writable:
  /* As write() when its send() leaves some. */
  result = wait_writable (self);

out:
  if (result < 0 && PyErr_Occurred () &&
      !PyErr_ExceptionMatches (PyExc_SystemExit) &&
      !PyErr_ExceptionMatches (PyExc_KeyboardInterrupt))
    {
      /* Nothing else may escape a flush (asyncio's own _write_ready lets
       * only those two out): report it as a callback error would be. */
      PyErr_WriteUnraisable (self);
      result = 0;
    }
  Py_XDECREF (r);
  Py_XDECREF (sock);
  Py_XDECREF (buffer);
  Py_XDECREF (dict);
  return result;
}

/* write(data): bytes or a bytearray, with nothing buffered, no EOF
 * written, no sendfile running and the connection not lost, is sent at
 * once; everything else is the Python method's. */
static PyObject *
transport_write (PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
  Py_ssize_t nargs = PyVectorcall_NARGS (nargsf);
  PyObject *data, *dict = NULL, *v, *sock, *loop, *rest, *r;
  Py_ssize_t len, n;
  int t = 0;

  if (nargs != 1 || kwnames != NULL ||
      !(PyBytes_CheckExact (args[0]) || PyByteArray_CheckExact (args[0])))
    goto python;
  data = args[0];
  len = PyBytes_CheckExact (data) ? PyBytes_GET_SIZE (data) : PyByteArray_GET_SIZE (data);
  if (len == 0)
    goto python;
  dict = dict_of (self);
  if ((t = attr_true (self, dict, str_eof)) != 0)
    goto python_or_error;
  if ((v = attr (self, dict, str_empty_waiter)) == NULL)
    goto error;
  Py_DECREF (v);
  if (v != Py_None || (t = attr_true (self, dict, str_conn_lost)) != 0 ||
      (t = attr_true (self, dict, str_buffer)) != 0)
    goto python_or_error;

  /* While the loop runs callbacks: buffered, sent at the end of the
   * iteration (coop_py_defer_write in _speedups.c). */
  if ((loop = attr (self, dict, str_loop)) == NULL)
    goto error;
  t = coop_py_defer_write (loop, self);
  Py_DECREF (loop);
  if (t != 0)
    {
      Py_XDECREF (dict);
      return t < 0 ? NULL : buffer_data (self, data);
    }
  if ((sock = attr (self, dict, str_sock)) == NULL)
    goto error;
  Py_CLEAR (dict);
  n = sock_send (sock, data);
  Py_DECREF (sock);
  if (n == -1)
    return fatal_error (self, msg_write);
  if (n == -2)
    return write_rest (self, data);
  if (n >= len)
    Py_RETURN_NONE;
  /* data = data[n:], as the Python method does. */
  rest = PySequence_GetSlice (data, n, len);
  if (rest == NULL)
    return NULL;
  r = write_rest (self, rest);
  Py_DECREF (rest);
  return r;

error:
  Py_XDECREF (dict);
  return NULL;
python_or_error:
  Py_XDECREF (dict);
  if (t < 0)
    return NULL;
python:
  /* asyncio's write(self, data), with the arguments as they came. */
  {
    Py_ssize_t total = 1 + nargs + (kwnames ? PyTuple_GET_SIZE (kwnames) : 0);
    PyObject *small[4];
    PyObject **stack = total <= 4 ? small : PyMem_Malloc (total * sizeof (PyObject *));

    if (stack == NULL)
      return PyErr_NoMemory ();
    stack[0] = self;
    for (Py_ssize_t i = 1; i < total; i++)
      stack[i] = args[i - 1];
    r = PyObject_Vectorcall (base_write, stack, 1 + nargs, kwnames);
    if (stack != small)
      PyMem_Free (stack);
    return r;
  }
}

/* abort(): asyncio's, after one try at sending what write() left for the
 * end of the iteration.  asyncio's write() sends at once, so a write()
 * then abort() in one callback got the data out (when the socket took
 * it); deferred, it would always be dropped. */
static PyObject *
transport_abort (PyObject *self, PyObject *unused)
{
  PyObject *dict = dict_of (self);
  PyObject *buffer = NULL, *sock = NULL;
  int lost = attr_true (self, dict, str_conn_lost);

  if (lost == 0 && (buffer = attr (self, dict, str_buffer)) != NULL &&
      PyByteArray_CheckExact (buffer) && PyByteArray_GET_SIZE (buffer) > 0 &&
      (sock = attr (self, dict, str_sock)) != NULL &&
      sock_send (sock, buffer) == -1 &&
      (PyErr_ExceptionMatches (PyExc_SystemExit) ||
       PyErr_ExceptionMatches (PyExc_KeyboardInterrupt)))
    {
      Py_XDECREF (dict);
      Py_XDECREF (buffer);
      Py_XDECREF (sock);
      return NULL;
    }
  /* Whatever went wrong there, abort() drops the rest anyway. */
  PyErr_Clear ();
  Py_XDECREF (dict);
  Py_XDECREF (buffer);
  Py_XDECREF (sock);
  return PyObject_CallOneArg (base_abort, self);
}

static PyMethodDef transport_methods[] = {
  { "_read_ready", transport_read_ready, METH_NOARGS, NULL },
  { "_read_ready__data_received", transport_read_ready__data_received, METH_NOARGS, NULL },
  { "write", (PyCFunction) (void (*) (void)) transport_write, METH_FASTCALL | METH_KEYWORDS, NULL },
  { "is_closing", transport_is_closing, METH_NOARGS, NULL },
  { "abort", transport_abort, METH_NOARGS, NULL },
  { NULL }
};

/* compile_transport(cls): puts the methods above on @cls, a subclass of
 * asyncio's _SelectorSocketTransport made for the purpose. */
PyObject *
coop_py_compile_transport (PyObject *module, PyObject *cls)
{
  PyObject *write;

  if (!PyType_Check (cls))
    {
      PyErr_SetString (PyExc_TypeError, "compile_transport() takes a class");
      return NULL;
    }
  write = PyObject_GetAttrString (cls, "write");
  if (write == NULL)
    return NULL;
  if (!PyFunction_Check (write))
    {
      Py_DECREF (write);
      PyErr_SetString (PyExc_TypeError, "the class's write() is not asyncio's Python function");
      return NULL;
    }
  Py_XSETREF (base_write, write);
  Py_XSETREF (base_abort, PyObject_GetAttrString (cls, "abort"));
  if (base_abort == NULL)
    return NULL;
  if (socket_type == NULL)
    {
      PyObject *mod = PyImport_ImportModule ("socket");

      if (mod == NULL)
        return NULL;
      socket_type = PyObject_GetAttrString (mod, "socket");
      Py_DECREF (mod);
      if (socket_type == NULL)
        return NULL;
    }

#define INTERN(var, s) \
  if (var == NULL && (var = PyUnicode_InternFromString (s)) == NULL) return NULL
  INTERN (str_conn_lost, "_conn_lost");
  INTERN (str_sock, "_sock");
  INTERN (str_max_size, "max_size");
  INTERN (str_protocol, "_protocol");
  INTERN (str_fatal_error, "_fatal_error");
  INTERN (str_on_eof, "_read_ready__on_eof");
  INTERN (str_data_received, "data_received");
  INTERN (str_recv, "recv");
  INTERN (str_send, "send");
  INTERN (str_fileno, "fileno");
  INTERN (str_read_ready_cb, "_read_ready_cb");
  INTERN (str_closing, "_closing");
  INTERN (str_eof, "_eof");
  INTERN (str_empty_waiter, "_empty_waiter");
  INTERN (str_buffer, "_buffer");
  INTERN (str_loop, "_loop");
  INTERN (str_add_writer, "_add_writer");
  INTERN (str_sock_fd, "_sock_fd");
  INTERN (str_write_ready, "_write_ready");
  INTERN (str_extend, "extend");
  INTERN (str_maybe_pause, "_maybe_pause_protocol");
  INTERN (str_high_water, "_high_water");
  INTERN (str_protocol_paused, "_protocol_paused");
  INTERN (msg_read, "Fatal read error on socket transport");
  INTERN (msg_received, "Fatal error: protocol.data_received() call failed.");
  INTERN (msg_write, "Fatal write error on socket transport");
#undef INTERN

  for (PyMethodDef *def = transport_methods; def->ml_name != NULL; def++)
    {
      PyObject *descr = PyDescr_NewMethod ((PyTypeObject *) cls, def);
      int r;

      if (descr == NULL)
        return NULL;
      r = PyObject_SetAttrString (cls, def->ml_name, descr);
      Py_DECREF (descr);
      if (r < 0)
        return NULL;
    }
  Py_RETURN_NONE;
}
