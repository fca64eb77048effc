/* _speedups.h: what the source files of coop._speedups share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <Python.h>

/* _transport.c: compile_transport(cls), the compiled methods of the
 * socket transport put on @cls. */
PyObject *coop_py_compile_transport (PyObject *module, PyObject *cls);
