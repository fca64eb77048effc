/* _speedups.h: what the source files of coop._speedups share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <Python.h>

/* Drops what a call returned: 0, or -1 when the call failed (its
 * exception stays set). */
static inline int
coop_py_discard (PyObject *result)
{
  if (result == NULL)
    return -1;
  Py_DECREF (result);
  return 0;
}

/* _speedups.c: the exception being raised, as `except ... as exc:` binds
 * it (a new reference; the error indicator is cleared). */
PyObject *coop_py_take_exception (void);

/* _transport.c: compile_transport(cls), the compiled methods of the
 * socket transport put on @cls. */
PyObject *coop_py_compile_transport (PyObject *module, PyObject *cls);

/* _speedups.c: queues @transport's buffered data to be sent at the end of
 * the loop's iteration; 1 if queued, 0 if it should be sent now, -1 on
 * error. */
int coop_py_defer_write (PyObject *loop, PyObject *transport);

/* _transport.c: sends what @transport buffered for the end of the
 * iteration; 0, or -1 with SystemExit or KeyboardInterrupt set. */
int coop_py_transport_flush (PyObject *transport);
