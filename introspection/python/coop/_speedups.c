/* _speedups.c: the hot path of coop.EventLoop, compiled.
 *
 * coop.EventLoop is asyncio's selector loop run from one GSource (a
 * Coop.Driver).  Written in Python, most of its time goes to asyncio's own
 * loop code: creating a Handle per callback, call_soon, and the loop that
 * pops handles and runs them in their context.  This module does that work
 * in C, as LoopCore, a base class of EventLoop:
 *
 *  - call_soon, call_soon_threadsafe, call_at, create_future, create_task
 *    and the run of queued callbacks (_run_iterations) are C functions;
 *  - the handles are asyncio's own Handle and TimerHandle objects, filled in
 *    directly through their slots (asyncio code and tests see the real
 *    classes, and their Python methods - cancel, repr - work unchanged);
 *  - the queues are asyncio's own (_ready, a deque, and _scheduled, the
 *    timer heap list), so everything in asyncio that reads them still works;
 *  - the loop flags asyncio reads and writes as attributes (_closed, _debug,
 *    _stopping, _scheduled, ...) are C fields behind descriptors, so Python
 *    code keeps using them and the C side reads them without a lookup.
 *
 * Debug mode (loop.set_debug, PYTHONASYNCIODEBUG) takes the pure-Python
 * path: the methods hand over to the Python implementations (the
 * _PyCore mixin in _loop.py, or asyncio's), which record source tracebacks
 * and time callbacks.  Everything rare (exception reports, stop, polling
 * the selector) is done by calling back into Python.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include <coop.h>

#include "_speedups.h"

/* One dispatch runs asyncio iterations back to back for at most this long
 * (seconds; the loop's _dispatch_budget) before the other sources of the
 * context get their turn, looking at the clock every CHUNK callbacks.  Half
 * the pure-Python loop's budget: here a look at the clock is a vDSO call
 * (some 20 ns for 16 callbacks), and a 60 Hz frame source waits for at most
 * one budget plus one chunk. */
#define DISPATCH_BUDGET 0.001
#define CHUNK 16
/* asyncio's tuning for dropping cancelled timers. */
#define MIN_SCHEDULED_TIMER_HANDLES 100
#define MIN_CANCELLED_TIMER_HANDLES_FRACTION 0.5

/* What setup() hands over from Python. */
static PyTypeObject *handle_type;       /* asyncio.events.Handle */
static PyTypeObject *timer_type;        /* asyncio.events.TimerHandle */
static PyObject *future_type;           /* asyncio.Future (_asyncio's) */
static PyObject *task_type;             /* asyncio.Task (_asyncio's) */
static PyObject *heappush, *heappop;
static PyObject *report_error;          /* (handle, exc): Handle._run's except */
/* The Python implementations, for debug mode and task factories. */
static PyObject *py_call_soon, *py__call_soon, *py_call_soon_threadsafe;
static PyObject *py_call_at, *py_call_later, *py_create_task, *py_run_iterations;

/* Offsets of the Handle/TimerHandle slots (__slots__ member descriptors). */
static Py_ssize_t off_callback, off_args, off_cancelled, off_loop,
                  off_source_traceback, off_repr, off_context, off_scheduled, off_when;

static PyObject *str_wake_at, *str_poll_io, *str_purge_timers, *str_on_stop,
                *str_write_to_self, *kw_loop, *zero, *str_remove_reader, *str_remove_writer,
                *str_process_events, *str_selector, *str_select, *str_context;

#define SLOT(obj, off) (*(PyObject **) ((char *) (obj) + (off)))

static inline void
slot_set (PyObject *obj, Py_ssize_t off, PyObject *value /* stolen */)
{
  PyObject *old = SLOT (obj, off);

  SLOT (obj, off) = value;
  Py_XDECREF (old);
}

static inline long long
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

typedef struct
{
  PyObject_HEAD
  char closed;
  char debug;
  char stopping;
  char dispatching;
  long long next_wake;
  Py_ssize_t timer_cancelled_count;
  double clock_resolution;
  double dispatch_budget;   /* _dispatch_budget, seconds */
  /* _resume: how many handles at the head of the ready queue are the rest
   * of an iteration the budget cut (see core_run_iterations). */
  Py_ssize_t resume;
  PyObject *ready;          /* _ready: collections.deque */
  PyObject *ready_append;   /* its bound methods */
  PyObject *ready_popleft;
  PyObject *scheduled;      /* _scheduled: the timer heap (list) */
  PyObject *task_factory;   /* _task_factory */
  PyObject *signal_handlers;  /* _signal_handlers (dict) */
  PyObject *fd_map;         /* the selector's fd -> key dict */
  int epfd;                 /* the EpollSelector's epoll fd, or -1 */
  /* Socket transports whose write() left its data buffered for the end
   * of the iteration (see flush_writes), or NULL. */
  PyObject *pending_writes;
} LoopCore;

static PyTypeObject LoopCoreType;

/* --- handles ------------------------------------------------------------- */

/* A Handle (or TimerHandle) as asyncio's __init__ makes it when the loop is
 * not in debug mode.  Steals nothing. */
static PyObject *
handle_new (PyTypeObject *type,
            PyObject     *callback,
            PyObject     *args,
            PyObject     *loop,
            PyObject     *context)
{
  PyObject *handle;

  if (context == NULL || context == Py_None)
    {
      context = PyContext_CopyCurrent ();
      if (context == NULL)
        return NULL;
    }
  else
    Py_INCREF (context);

  handle = type->tp_alloc (type, 0);
  if (handle == NULL)
    {
      Py_DECREF (context);
      return NULL;
    }
  SLOT (handle, off_context) = context;
  SLOT (handle, off_loop) = Py_NewRef (loop);
  SLOT (handle, off_callback) = Py_NewRef (callback);
  SLOT (handle, off_args) = Py_NewRef (args);
  SLOT (handle, off_cancelled) = Py_NewRef (Py_False);
  SLOT (handle, off_repr) = Py_NewRef (Py_None);
  SLOT (handle, off_source_traceback) = Py_NewRef (Py_None);
  /* Out of the cyclic collector's sight while queued (see handle_track). */
  PyObject_GC_UnTrack (handle);
  return handle;
}

/* A handle this module made is not tracked by the cyclic collector while
 * it waits in the ready queue or the timer heap.  With thousands of tasks
 * in flight, their queued handles were a fifth of the young objects every
 * collection walked and found alive.  Leaving them out is safe while the
 * loop holds them: a queued handle is reachable (the loop runs it), and an
 * untracked object can only make the collector keep more, never free
 * what is in use.  Each way out of the queues - run, dropped as cancelled,
 * purged, the loop closed or switched to debug mode (whose runner is
 * Python's) - puts the collector back on it when someone else still holds
 * the handle, since a handle kept in an object it calls back into is a
 * cycle only the collector can free. */
static inline void
handle_track (PyObject *handle)
{
  if (Py_REFCNT (handle) > 1 && !PyObject_GC_IsTracked (handle))
    PyObject_GC_Track (handle);
}

/* handle_track() on every handle of an iterable (the ready queue, the
 * timer heap). */
static int
track_all (PyObject *queue)
{
  PyObject *it, *h;

  if (queue == NULL || queue == Py_None)
    return 0;
  it = PyObject_GetIter (queue);
  if (it == NULL)
    return -1;
  while ((h = PyIter_Next (it)) != NULL)
    {
      /* (The iterator's reference makes Py_REFCNT at least 2.) */
      if (PyObject_IS_GC (h) && !PyObject_GC_IsTracked (h))
        PyObject_GC_Track (h);
      Py_DECREF (h);
    }
  Py_DECREF (it);
  return PyErr_Occurred () ? -1 : 0;
}

/* The exception being raised, taken out of the thread state as the object
 * an `except ... as exc:` clause binds: normalized, its traceback set. */
PyObject *
coop_py_take_exception (void)
{
  PyObject *type, *value, *tb;

  PyErr_Fetch (&type, &value, &tb);
  PyErr_NormalizeException (&type, &value, &tb);
  if (tb != NULL && value != NULL)
    PyException_SetTraceback (value, tb);
  Py_XDECREF (type);
  Py_XDECREF (tb);
  return value;
}

/* Runs one handle as Handle._run() does.  Returns 0, or -1 with the
 * exception set for SystemExit and KeyboardInterrupt (which propagate). */
static int
handle_run (PyObject *handle)
{
  PyObject *callback = SLOT (handle, off_callback);
  PyObject *args = SLOT (handle, off_args);
  PyObject *context = SLOT (handle, off_context);
  PyObject *result = NULL;

  /* The callback may cancel its own handle, which drops these. */
  Py_INCREF (callback);
  Py_INCREF (args);
  Py_INCREF (context);
  if (PyContext_Enter (context) == 0)
    {
      result = PyObject_Vectorcall (callback, &PyTuple_GET_ITEM (args, 0),
                                    PyTuple_GET_SIZE (args), NULL);
      if (PyContext_Exit (context) < 0)
        Py_CLEAR (result);
    }
  Py_DECREF (callback);
  Py_DECREF (args);
  Py_DECREF (context);

  if (result != NULL)
    {
      Py_DECREF (result);
      return 0;
    }
  if (PyErr_ExceptionMatches (PyExc_SystemExit) ||
      PyErr_ExceptionMatches (PyExc_KeyboardInterrupt))
    return -1;

  {
    PyObject *value = coop_py_take_exception ();
    PyObject *r = PyObject_CallFunctionObjArgs (report_error, handle, value, NULL);

    Py_XDECREF (value);
    if (r == NULL)
      return -1;   /* the exception handler raised: as in asyncio */
    Py_DECREF (r);
  }
  return 0;
}

/* --- LoopCore ---------------------------------------------------------- */

static int
check_closed (LoopCore *self)
{
  if (self->closed)
    {
      PyErr_SetString (PyExc_RuntimeError, "Event loop is closed");
      return -1;
    }
  return 0;
}

static PyObject *
args_tuple (PyObject *const *args, Py_ssize_t n)
{
  PyObject *tuple = PyTuple_New (n);

  if (tuple == NULL)
    return NULL;
  for (Py_ssize_t i = 0; i < n; i++)
    PyTuple_SET_ITEM (tuple, i, Py_NewRef (args[i]));
  return tuple;
}

/* The one keyword argument of call_soon() and friends: context. */
static int
parse_context (PyObject *kwnames, PyObject *const *args, Py_ssize_t nargs,
               const char *fname, PyObject **context)
{
  *context = Py_None;
  if (kwnames == NULL)
    return 0;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE (kwnames); i++)
    {
      PyObject *name = PyTuple_GET_ITEM (kwnames, i);

      /* asyncio's futures pass context= on every call (set_result, every
       * await's wake-up), with a name of their own (not interned): compare
       * the bytes, not through PyUnicode_CompareWithASCIIString (some 120
       * instructions). */
      if (!(name == str_context ||
            (PyUnicode_Check (name) && PyUnicode_IS_COMPACT_ASCII (name) &&
             PyUnicode_GET_LENGTH (name) == 7 &&
             memcmp (PyUnicode_DATA (name), "context", 7) == 0)))
        {
          PyErr_Format (PyExc_TypeError, "%s() got an unexpected keyword argument '%S'",
                        fname, name);
          return -1;
        }
      *context = args[nargs + i];
    }
  return 0;
}

/* Queues a ready handle and wakes the driver if it sleeps. */
static PyObject *
queue_soon (LoopCore *self, PyObject *callback, PyObject *args, PyObject *context)
{
  PyObject *handle = handle_new (handle_type, callback, args, (PyObject *) self, context);
  PyObject *r;

  if (handle == NULL)
    return NULL;
  r = PyObject_CallOneArg (self->ready_append, handle);
  if (r == NULL)
    {
      Py_DECREF (handle);
      return NULL;
    }
  Py_DECREF (r);
  if (self->next_wake != 0 && !self->dispatching)
    {
      r = PyObject_CallMethodOneArg ((PyObject *) self, str_wake_at, zero);
      if (r == NULL)
        {
          Py_DECREF (handle);
          return NULL;
        }
      Py_DECREF (r);
    }
  return handle;
}

static int
check_ready (LoopCore *self)
{
  if (self->ready_append == NULL)
    {
      PyErr_SetString (PyExc_RuntimeError, "LoopCore used before _speedups_init()");
      return -1;
    }
  return 0;
}

/* Calls the Python implementation: fn(self, *args, **kw). */
static PyObject *
delegate (PyObject *fn, LoopCore *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
  Py_ssize_t nargs = PyVectorcall_NARGS (nargsf);
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE (kwnames) : 0;
  PyObject *small[8];
  PyObject **stack = small;
  PyObject *r;

  if (nargs + nkw + 1 > 8)
    {
      stack = PyMem_Malloc ((nargs + nkw + 1) * sizeof (PyObject *));
      if (stack == NULL)
        return PyErr_NoMemory ();
    }
  stack[0] = (PyObject *) self;
  for (Py_ssize_t i = 0; i < nargs + nkw; i++)
    stack[i + 1] = args[i];
  r = PyObject_Vectorcall (fn, stack, nargs + 1, kwnames);
  if (stack != small)
    PyMem_Free (stack);
  return r;
}

static PyObject *
core_call_soon (LoopCore *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
  Py_ssize_t nargs = PyVectorcall_NARGS (nargsf);
  PyObject *context, *tuple, *handle;

  if (self->debug)
    return delegate (py_call_soon, self, args, nargsf, kwnames);
  if (nargs < 1)
    {
      PyErr_SetString (PyExc_TypeError, "call_soon() missing required argument 'callback'");
      return NULL;
    }
  if (parse_context (kwnames, args, nargs, "call_soon", &context) < 0 ||
      check_closed (self) < 0 || check_ready (self) < 0)
    return NULL;
  tuple = args_tuple (args + 1, nargs - 1);
  if (tuple == NULL)
    return NULL;
  handle = queue_soon (self, args[0], tuple, context);
  Py_DECREF (tuple);
  return handle;
}

/* _call_soon(callback, args, context): what asyncio's own methods call. */
static PyObject *
core__call_soon (LoopCore *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
  Py_ssize_t nargs = PyVectorcall_NARGS (nargsf);

  if (self->debug || kwnames != NULL || nargs != 3 || !PyTuple_Check (args[1]))
    return delegate (py__call_soon, self, args, nargsf, kwnames);
  if (check_ready (self) < 0)
    return NULL;
  return queue_soon (self, args[0], args[1], args[2]);
}

static PyObject *
core_call_soon_threadsafe (LoopCore *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
  PyObject *handle, *r;

  /* In debug mode asyncio's own (call_soon() would check the thread). */
  if (self->debug)
    return delegate (py_call_soon_threadsafe, self, args, nargsf, kwnames);
  /* Checks, handle and append are the same as call_soon's (appending to a
   * deque is atomic under the GIL); then the self-pipe wakes the loop. */
  handle = core_call_soon (self, args, nargsf, kwnames);
  if (handle == NULL)
    return handle;
  r = PyObject_CallMethodNoArgs ((PyObject *) self, str_write_to_self);
  if (r == NULL)
    {
      Py_DECREF (handle);
      return NULL;
    }
  Py_DECREF (r);
  return handle;
}

static PyObject *
core_call_at (LoopCore *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
  Py_ssize_t nargs = PyVectorcall_NARGS (nargsf);
  PyObject *context, *tuple, *timer, *r;
  double when;

  if (self->debug)
    return delegate (py_call_at, self, args, nargsf, kwnames);
  if (nargs < 2)
    {
      PyErr_SetString (PyExc_TypeError, "call_at() missing required arguments 'when' and 'callback'");
      return NULL;
    }
  if (parse_context (kwnames, args, nargs, "call_at", &context) < 0 || check_closed (self) < 0)
    return NULL;
  if (args[0] == Py_None)
    {
      PyErr_SetString (PyExc_TypeError, "when cannot be None");
      return NULL;
    }
  when = PyFloat_AsDouble (args[0]);
  if (when == -1.0 && PyErr_Occurred ())
    return NULL;
  tuple = args_tuple (args + 2, nargs - 2);
  if (tuple == NULL)
    return NULL;
  timer = handle_new (timer_type, args[1], tuple, (PyObject *) self, context);
  Py_DECREF (tuple);
  if (timer == NULL)
    return NULL;
  SLOT (timer, off_when) = Py_NewRef (args[0]);
  SLOT (timer, off_scheduled) = Py_NewRef (Py_True);
  r = PyObject_CallFunctionObjArgs (heappush, self->scheduled, timer, NULL);
  if (r == NULL)
    {
      Py_DECREF (timer);
      return NULL;
    }
  Py_DECREF (r);
  if (!self->dispatching)
    {
      /* The driver's ready time, in microseconds, rounded up. */
      double usec = ceil (when * 1e6);
      long long u = usec > 0 ? (long long) usec : 0;

      if (self->next_wake == -1 || u < self->next_wake)
        {
          PyObject *arg = PyLong_FromLongLong (u);

          r = arg ? PyObject_CallMethodOneArg ((PyObject *) self, str_wake_at, arg) : NULL;
          Py_XDECREF (arg);
          if (r == NULL)
            {
              Py_DECREF (timer);
              return NULL;
            }
          Py_DECREF (r);
        }
    }
  return timer;
}

/* call_later(delay, callback, *args, context=None): call_at(time() + delay). */
static PyObject *
core_call_later (LoopCore *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
  Py_ssize_t nargs = PyVectorcall_NARGS (nargsf);
  PyObject *small[8];
  PyObject **stack = small;
  PyObject *when, *r;
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE (kwnames) : 0;
  double delay;

  if (self->debug)
    return delegate (py_call_later, self, args, nargsf, kwnames);
  if (nargs < 2)
    {
      PyErr_SetString (PyExc_TypeError, "call_later() missing required arguments 'delay' and 'callback'");
      return NULL;
    }
  if (args[0] == Py_None)
    {
      PyErr_SetString (PyExc_TypeError, "delay must not be None");
      return NULL;
    }
  delay = PyFloat_AsDouble (args[0]);
  if (delay == -1.0 && PyErr_Occurred ())
    return NULL;
  when = PyFloat_FromDouble ((double) now_ns () / 1e9 + delay);
  if (when == NULL)
    return NULL;
  if (nargs + nkw > 8)
    {
      stack = PyMem_Malloc ((nargs + nkw) * sizeof (PyObject *));
      if (stack == NULL)
        {
          Py_DECREF (when);
          return PyErr_NoMemory ();
        }
    }
  stack[0] = when;
  for (Py_ssize_t i = 1; i < nargs + nkw; i++)
    stack[i] = args[i];
  r = core_call_at (self, stack, nargs, kwnames);
  if (stack != small)
    PyMem_Free (stack);
  Py_DECREF (when);
  return r;
}

/* time(): CLOCK_MONOTONIC in seconds, as time.monotonic() and GLib. */
static PyObject *
core_time (LoopCore *self, PyObject *unused)
{
  return PyFloat_FromDouble ((double) now_ns () / 1e9);
}

/* get_debug(): asked by every Future and Task asyncio creates. */
static PyObject *
core_get_debug (LoopCore *self, PyObject *unused)
{
  return PyBool_FromLong (self->debug);
}

static PyObject *
core_create_future (LoopCore *self, PyObject *unused)
{
  PyObject *arg = (PyObject *) self;

  return PyObject_Vectorcall (future_type, &arg, 0, kw_loop);
}

static PyObject *
core_create_task (LoopCore *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
  Py_ssize_t nargs = PyVectorcall_NARGS (nargsf);
  PyObject *stack[4];
  PyObject *names, *task;
  Py_ssize_t n = 1;

  if (self->debug || (self->task_factory != NULL && self->task_factory != Py_None) || nargs != 1)
    return delegate (py_create_task, self, args, nargsf, kwnames);
  if (check_closed (self) < 0)
    return NULL;
  /* Task(coro, loop=self, name=..., context=...) */
  stack[0] = args[0];
  stack[1] = (PyObject *) self;
  if (kwnames == NULL)
    return PyObject_Vectorcall (task_type, stack, 1, kw_loop);
  n = PyTuple_GET_SIZE (kwnames);
  if (n > 2)
    return delegate (py_create_task, self, args, nargsf, kwnames);
  names = PyTuple_New (n + 1);
  if (names == NULL)
    return NULL;
  PyTuple_SET_ITEM (names, 0, Py_NewRef (PyTuple_GET_ITEM (kw_loop, 0)));
  for (Py_ssize_t i = 0; i < n; i++)
    {
      PyObject *name = PyTuple_GET_ITEM (kwnames, i);

      if (!PyUnicode_Check (name) ||
          !(PyUnicode_CompareWithASCIIString (name, "name") == 0 ||
            PyUnicode_CompareWithASCIIString (name, "context") == 0))
        {
          Py_DECREF (names);
          return delegate (py_create_task, self, args, nargsf, kwnames);
        }
      PyTuple_SET_ITEM (names, i + 1, Py_NewRef (name));
      stack[i + 2] = args[1 + i];
    }
  task = PyObject_Vectorcall (task_type, stack, 1, names);
  Py_DECREF (names);
  return task;
}

/* Moves the due timers to the ready queue, dropping cancelled ones as
 * BaseEventLoop._run_once() does, within the dispatch's budget: each
 * heappop compares TimerHandles in Python (__lt__), so 10,000 timers due
 * at once (10,000 tasks that slept alike) took some 10 ms in one go, and a
 * 60 Hz frame source waited for all of it.  Past @deadline, after at least
 * one CHUNK, the rest stays due in the heap for the next iteration, in
 * the same order. */
static int
collect_timers (LoopCore *self, long long deadline)
{
  PyObject *scheduled = self->scheduled;
  Py_ssize_t n;

  if (scheduled == NULL || !PyList_Check (scheduled))
    return 0;
  n = PyList_GET_SIZE (scheduled);
  if (n > MIN_SCHEDULED_TIMER_HANDLES &&
      (double) self->timer_cancelled_count / n > MIN_CANCELLED_TIMER_HANDLES_FRACTION)
    {
      PyObject *r;

      /* The cancelled handles leave the heap. */
      for (Py_ssize_t i = 0; i < n; i++)
        {
          PyObject *h = PyList_GET_ITEM (scheduled, i);

          if (SLOT (h, off_cancelled) == Py_True)
            handle_track (h);
        }
      r = PyObject_CallMethodNoArgs ((PyObject *) self, str_purge_timers);

      if (r == NULL)
        return -1;
      Py_DECREF (r);
      scheduled = self->scheduled;
    }
  else
    {
      while (PyList_GET_SIZE (scheduled) > 0 &&
             SLOT (PyList_GET_ITEM (scheduled, 0), off_cancelled) == Py_True)
        {
          PyObject *h = PyObject_CallOneArg (heappop, scheduled);

          if (h == NULL)
            return -1;
          self->timer_cancelled_count--;
          slot_set (h, off_scheduled, Py_NewRef (Py_False));
          handle_track (h);
          Py_DECREF (h);
        }
    }

  if (PyList_GET_SIZE (scheduled) > 0)
    {
      double end = (double) now_ns () / 1e9 + self->clock_resolution;
      unsigned int moved = 0;

      while (PyList_GET_SIZE (scheduled) > 0)
        {
          PyObject *head = PyList_GET_ITEM (scheduled, 0);
          double when = PyFloat_AsDouble (SLOT (head, off_when));
          PyObject *h, *r;

          if (when == -1.0 && PyErr_Occurred ())
            return -1;
          if (!(when < end))
            break;
          h = PyObject_CallOneArg (heappop, scheduled);
          if (h == NULL)
            return -1;
          slot_set (h, off_scheduled, Py_NewRef (Py_False));
          r = PyObject_CallOneArg (self->ready_append, h);
          Py_DECREF (h);
          if (r == NULL)
            return -1;
          Py_DECREF (r);
          if (++moved % CHUNK == 0 && now_ns () >= deadline)
            break;
        }
    }
  return 0;
}

/* One readiness event: what EpollSelector.select() and
 * BaseSelectorEventLoop._process_events() do for it, with no Python in
 * between (the reader or writer handle goes to the ready queue). */
static int
process_event (LoopCore *self, int fd, unsigned int event)
{
  PyObject *fdobj = PyLong_FromLong (fd);
  PyObject *key, *data;
  long key_events, mask = 0;

  if (fdobj == NULL)
    return -1;
  key = PyDict_GetItemWithError (self->fd_map, fdobj);   /* borrowed */
  Py_DECREF (fdobj);
  if (key == NULL)
    return PyErr_Occurred () ? -1 : 0;
  if (!PyTuple_Check (key) || PyTuple_GET_SIZE (key) < 4)
    return 0;
  Py_INCREF (key);
  key_events = PyLong_AsLong (PyTuple_GET_ITEM (key, 2));
  if (key_events == -1 && PyErr_Occurred ())
    {
      Py_DECREF (key);
      return -1;
    }
  if (event & ~EPOLLIN)
    mask |= 2;    /* selectors.EVENT_WRITE */
  if (event & ~EPOLLOUT)
    mask |= 1;    /* selectors.EVENT_READ */
  mask &= key_events;
  data = PyTuple_GET_ITEM (key, 3);
  if (PyTuple_Check (data) && PyTuple_GET_SIZE (data) == 2)
    {
      for (int i = 0; i < 2; i++)
        {
          PyObject *h = PyTuple_GET_ITEM (data, i);
          PyObject *r;

          if (!(mask & (i == 0 ? 1 : 2)) || h == Py_None)
            continue;
          if (!PyObject_TypeCheck (h, handle_type))
            {
              PyErr_SetString (PyExc_TypeError, "selector key data is not a pair of handles");
              Py_DECREF (key);
              return -1;
            }
          if (SLOT (h, off_cancelled) == Py_True)
            r = PyObject_CallMethodOneArg ((PyObject *) self,
                                           i == 0 ? str_remove_reader : str_remove_writer,
                                           PyTuple_GET_ITEM (key, 0));
          else
            r = PyObject_CallOneArg (self->ready_append, h);
          if (r == NULL)
            {
              Py_DECREF (key);
              return -1;
            }
          Py_DECREF (r);
        }
    }
  Py_DECREF (key);
  return 0;
}

/* _poll_io(): looks at the selector without waiting and queues the
 * handles of the fds that are ready. */
static PyObject *
core_poll_io (LoopCore *self, PyObject *unused)
{
  if (check_ready (self) < 0)
    return NULL;
#ifdef __linux__
  if (self->epfd >= 0)
    {
      struct epoll_event events[256];
      int n = epoll_wait (self->epfd, events, 256, 0);

      if (n < 0)
        {
          if (errno == EINTR)
            Py_RETURN_NONE;
          return PyErr_SetFromErrno (PyExc_OSError);
        }
      for (int i = 0; i < n; i++)
        if (process_event (self, events[i].data.fd, events[i].events) < 0)
          return NULL;
      Py_RETURN_NONE;
    }
#endif
  {
    PyObject *selector = PyObject_GetAttr ((PyObject *) self, str_selector);
    PyObject *list, *r;

    if (selector == NULL)
      return NULL;
    list = PyObject_CallMethodOneArg (selector, str_select, zero);
    Py_DECREF (selector);
    if (list == NULL)
      return NULL;
    r = PyObject_CallMethodOneArg ((PyObject *) self, str_process_events, list);
    Py_DECREF (list);
    return r;
  }
}

/* Whether the selector has anything to poll besides the self-pipe (which
 * only matters for asyncio's signal handlers: call_soon_threadsafe() also
 * appends to the ready queue, which the iterations look at anyway). */
static inline int
needs_poll (LoopCore *self)
{
  return (self->fd_map != NULL && PyDict_GET_SIZE (self->fd_map) > 1) ||
         (self->signal_handlers != NULL && PyDict_Check (self->signal_handlers) &&
          PyDict_GET_SIZE (self->signal_handlers) > 0);
}

/* _run_iterations(fd_ready): the body of one driver dispatch.
 *
 * An iteration is asyncio's: poll the selector, move the due timers, then
 * run the handles queued at that point (ntodo).  When the budget cuts one
 * short, the rest of it stays at the head of the queue and _resume says
 * how many: the next dispatch runs those first, before it polls again.
 * Polling in between would queue the reader handle of every fd whose
 * handle has not run yet a second time (the fd is still readable), and
 * that second run finds nothing to read; under load the duplicates made
 * the next budget run out sooner, which made more of them. */
static int flush_writes (LoopCore *self);

static PyObject *
run_iterations (LoopCore *self, PyObject *fd_ready)
{
  long long deadline = now_ns () + (long long) (self->dispatch_budget * 1e9);
  int poll = PyObject_IsTrue (fd_ready);
  Py_ssize_t ntodo;

  if (self->debug)
    return PyObject_CallFunctionObjArgs (py_run_iterations, self, fd_ready, NULL);
  if (poll < 0 || check_ready (self) < 0)
    return NULL;

  ntodo = self->resume;
  self->resume = 0;
  if (ntodo > 0)
    {
      /* (The queue may have been cleared since, by close().) */
      Py_ssize_t len = PyObject_Length (self->ready);

      if (len < 0)
        return NULL;
      if (ntodo > len)
        ntodo = len;
    }

  for (;;)
    {
      if (ntodo == 0)
        {
          /* A new iteration: first what the last one wrote. */
          if (flush_writes (self) < 0)
            return NULL;
          if (poll)
            {
              PyObject *r = PyObject_CallMethodNoArgs ((PyObject *) self, str_poll_io);

              if (r == NULL)
                return NULL;
              Py_DECREF (r);
            }
          if (collect_timers (self, deadline) < 0)
            return NULL;
          ntodo = PyObject_Length (self->ready);
          if (ntodo < 0)
            return NULL;
        }
      while (ntodo > 0)
        {
          Py_ssize_t chunk = ntodo < CHUNK ? ntodo : CHUNK;

          ntodo -= chunk;
          while (chunk-- > 0)
            {
              PyObject *handle = PyObject_CallNoArgs (self->ready_popleft);
              int failed = 0;

              if (handle == NULL)
                return NULL;
              if (SLOT (handle, off_cancelled) != Py_True)
                failed = handle_run (handle) < 0;
              handle_track (handle);
              Py_DECREF (handle);
              if (failed)
                {
                  /* SystemExit, KeyboardInterrupt: the rest of the
                   * iteration is still due. */
                  self->resume = ntodo + chunk;
                  return NULL;
                }
            }
          if (ntodo > 0 && now_ns () >= deadline)
            {
              self->resume = ntodo;
              Py_RETURN_NONE;
            }
        }

      if (self->stopping)
        return PyObject_CallMethodNoArgs ((PyObject *) self, str_on_stop);
      ntodo = PyObject_Length (self->ready);
      if (ntodo <= 0)
        {
          if (ntodo < 0)
            return NULL;
          Py_RETURN_NONE;
        }
      ntodo = 0;
      /* More callbacks are queued: another iteration now, within the
       * budget; a change to debug mode waits for the next dispatch. */
      if (self->debug || now_ns () >= deadline)
        Py_RETURN_NONE;
      poll = needs_poll (self);
    }
}

/* Deferred writes.  While the loop runs callbacks, a socket transport's
 * write() with nothing buffered does not send at once: it buffers the data
 * and puts the transport here, and the data leaves when the iteration's
 * callbacks have run (before the next poll, and before the dispatch
 * returns to GLib).  A burst of replies then leaves back to back, one
 * send() per transport however many writes made it, as uvloop does: sent
 * one by one between the callbacks, the replies left a few microseconds
 * apart, far enough for a peer on the other CPU to go to sleep between two
 * of them and make each send() pay its wake-up (three times the peer's
 * context switches in the TCP echo benchmark).
 *
 * Returns 1 when @transport was queued, 0 when its write should send now
 * (not this module's loop, or it is not running callbacks, or is in debug
 * mode), -1 on error. */
int
coop_py_defer_write (PyObject *loop, PyObject *transport)
{
  LoopCore *self = (LoopCore *) loop;

  if (!PyObject_TypeCheck (loop, &LoopCoreType) || !self->dispatching ||
      self->debug || self->closed)
    return 0;
  if (self->pending_writes == NULL && (self->pending_writes = PyList_New (0)) == NULL)
    return -1;
  return PyList_Append (self->pending_writes, transport) < 0 ? -1 : 1;
}

/* Sends what the queued transports buffered.  A flush may queue more (a
 * protocol's resume_writing() that writes): up to a few rounds here, the
 * rest at the next flush, which the next iteration makes soon since the
 * driver is woken for it. */
static int
flush_writes (LoopCore *self)
{
  for (int round = 0; round < 8; round++)
    {
      PyObject *list = self->pending_writes;
      Py_ssize_t n;

      if (list == NULL || PyList_GET_SIZE (list) == 0)
        return 0;
      self->pending_writes = NULL;
      n = PyList_GET_SIZE (list);
      for (Py_ssize_t i = 0; i < n; i++)
        if (coop_py_transport_flush (PyList_GET_ITEM (list, i)) < 0)
          {
            /* SystemExit, KeyboardInterrupt: the rest still get theirs. */
            PyObject *type, *value, *tb;

            PyErr_Fetch (&type, &value, &tb);
            for (i++; i < n; i++)
              if (coop_py_transport_flush (PyList_GET_ITEM (list, i)) < 0)
                PyErr_WriteUnraisable (PyList_GET_ITEM (list, i));
            PyErr_Restore (type, value, tb);
            Py_DECREF (list);
            return -1;
          }
      Py_DECREF (list);
    }
  if (self->pending_writes != NULL && PyList_GET_SIZE (self->pending_writes) > 0)
    return coop_py_discard (PyObject_CallMethodOneArg ((PyObject *) self, str_wake_at, zero));
  return 0;
}

/* _run_iterations(fd_ready): run_iterations, then the deferred writes,
 * whichever way it ended. */
static PyObject *
core_run_iterations (LoopCore *self, PyObject *fd_ready)
{
  PyObject *r = run_iterations (self, fd_ready);

  if (self->pending_writes != NULL && PyList_GET_SIZE (self->pending_writes) > 0)
    {
      PyObject *type, *value, *tb;

      PyErr_Fetch (&type, &value, &tb);
      if (flush_writes (self) < 0)
        {
          if (type != NULL)
            PyErr_WriteUnraisable ((PyObject *) self);
          else
            {
              Py_CLEAR (r);
              return NULL;
            }
        }
      PyErr_Restore (type, value, tb);
    }
  return r;
}

/* _speedups_init(): binds the core to the queues BaseEventLoop.__init__
 * made (call it after that) and to the selector's fd map. */
static PyObject *
core_speedups_init (LoopCore *self, PyObject *args)
{
  PyObject *ready, *fd_map;
  int epfd;

  if (!PyArg_ParseTuple (args, "OO!i", &ready, &PyDict_Type, &fd_map, &epfd))
    return NULL;
  self->epfd = epfd;
  Py_CLEAR (self->ready_append);
  Py_CLEAR (self->ready_popleft);
  Py_XSETREF (self->ready, Py_NewRef (ready));
  Py_XSETREF (self->fd_map, Py_NewRef (fd_map));
  self->ready_append = PyObject_GetAttrString (ready, "append");
  self->ready_popleft = PyObject_GetAttrString (ready, "popleft");
  if (self->ready_append == NULL || self->ready_popleft == NULL)
    return NULL;
  Py_RETURN_NONE;
}

static int
core_traverse (LoopCore *self, visitproc visit, void *arg)
{
  Py_VISIT (self->ready);
  Py_VISIT (self->ready_append);
  Py_VISIT (self->ready_popleft);
  Py_VISIT (self->scheduled);
  Py_VISIT (self->task_factory);
  Py_VISIT (self->signal_handlers);
  Py_VISIT (self->fd_map);
  Py_VISIT (self->pending_writes);
  return 0;
}

static int
core_clear (LoopCore *self)
{
  Py_CLEAR (self->ready);
  Py_CLEAR (self->ready_append);
  Py_CLEAR (self->ready_popleft);
  Py_CLEAR (self->scheduled);
  Py_CLEAR (self->task_factory);
  Py_CLEAR (self->signal_handlers);
  Py_CLEAR (self->fd_map);
  Py_CLEAR (self->pending_writes);
  return 0;
}

static void
core_dealloc (LoopCore *self)
{
  PyTypeObject *tp = Py_TYPE (self);

  PyObject_GC_UnTrack (self);
  core_clear (self);
  tp->tp_free ((PyObject *) self);
}

static PyObject *
core_new (PyTypeObject *type, PyObject *args, PyObject *kwds)
{
  LoopCore *self = (LoopCore *) type->tp_alloc (type, 0);

  if (self == NULL)
    return NULL;
  self->next_wake = -1;
  self->epfd = -1;
  self->dispatch_budget = DISPATCH_BUDGET;
  return (PyObject *) self;
}

/* Flags as attributes: any truth value in, a bool out (asyncio assigns
 * whatever set_debug() was given). */
#define BOOL_GETSET(field)                                                      \
  static PyObject *get_##field (LoopCore *self, void *c)                        \
  { return PyBool_FromLong (self->field); }                                     \
  static int set_##field (LoopCore *self, PyObject *v, void *c)                 \
  {                                                                             \
    int b;                                                                      \
    if (v == NULL) { PyErr_SetString (PyExc_AttributeError, "cannot delete"); return -1; } \
    b = PyObject_IsTrue (v);                                                    \
    if (b < 0) return -1;                                                       \
    self->field = (char) b;                                                     \
    return 0;                                                                   \
  }
BOOL_GETSET (closed)
BOOL_GETSET (debug)
BOOL_GETSET (stopping)
BOOL_GETSET (dispatching)

/* _track_queued(): the loop is closed, its queues are about to be
 * cleared (see handle_track). */
static PyObject *
core_track_queued (LoopCore *self, PyObject *unused)
{
  if (track_all (self->ready) < 0 || track_all (self->scheduled) < 0)
    return NULL;
  Py_RETURN_NONE;
}

/* _debug = on: in debug mode Python's runner takes the queued handles, and
 * it does not know they are untracked (see handle_track). */
static int
set_debug_tracking (LoopCore *self, PyObject *v, void *c)
{
  int b = v != NULL ? PyObject_IsTrue (v) : 0;

  if (b < 0 || (b > 0 && !self->debug &&
                coop_py_discard (core_track_queued (self, NULL)) < 0))
    return -1;
  return set_debug (self, v, c);
}

static PyGetSetDef core_getset[] = {
  { "_closed", (getter) get_closed, (setter) set_closed, NULL, NULL },
  { "_debug", (getter) get_debug, (setter) set_debug_tracking, NULL, NULL },
  { "_stopping", (getter) get_stopping, (setter) set_stopping, NULL, NULL },
  { "_dispatching", (getter) get_dispatching, (setter) set_dispatching, NULL, NULL },
  { NULL }
};

static PyMemberDef core_members[] = {
  { "_next_wake", T_LONGLONG, offsetof (LoopCore, next_wake), 0, NULL },
  { "_timer_cancelled_count", T_PYSSIZET, offsetof (LoopCore, timer_cancelled_count), 0, NULL },
  { "_clock_resolution", T_DOUBLE, offsetof (LoopCore, clock_resolution), 0, NULL },
  { "_dispatch_budget", T_DOUBLE, offsetof (LoopCore, dispatch_budget), 0, NULL },
  { "_resume", T_PYSSIZET, offsetof (LoopCore, resume), 0, NULL },
  { "_scheduled", T_OBJECT_EX, offsetof (LoopCore, scheduled), 0, NULL },
  { "_task_factory", T_OBJECT, offsetof (LoopCore, task_factory), 0, NULL },
  { "_signal_handlers", T_OBJECT_EX, offsetof (LoopCore, signal_handlers), 0, NULL },
  { NULL }
};

static PyMethodDef core_methods[] = {
  { "call_soon", (PyCFunction) (void (*) (void)) core_call_soon, METH_FASTCALL | METH_KEYWORDS, NULL },
  { "_call_soon", (PyCFunction) (void (*) (void)) core__call_soon, METH_FASTCALL | METH_KEYWORDS, NULL },
  { "call_soon_threadsafe", (PyCFunction) (void (*) (void)) core_call_soon_threadsafe, METH_FASTCALL | METH_KEYWORDS, NULL },
  { "call_at", (PyCFunction) (void (*) (void)) core_call_at, METH_FASTCALL | METH_KEYWORDS, NULL },
  { "call_later", (PyCFunction) (void (*) (void)) core_call_later, METH_FASTCALL | METH_KEYWORDS, NULL },
  { "time", (PyCFunction) core_time, METH_NOARGS, NULL },
  { "get_debug", (PyCFunction) core_get_debug, METH_NOARGS, NULL },
  { "create_future", (PyCFunction) core_create_future, METH_NOARGS, NULL },
  { "create_task", (PyCFunction) (void (*) (void)) core_create_task, METH_FASTCALL | METH_KEYWORDS, NULL },
  { "_run_iterations", (PyCFunction) core_run_iterations, METH_O, NULL },
  { "_poll_io", (PyCFunction) core_poll_io, METH_NOARGS, NULL },
  { "_speedups_init", (PyCFunction) core_speedups_init, METH_VARARGS, NULL },
  { "_track_queued", (PyCFunction) core_track_queued, METH_NOARGS, NULL },
  { NULL }
};

static PyTypeObject LoopCoreType = {
  PyVarObject_HEAD_INIT (NULL, 0)
  .tp_name = "coop._speedups.LoopCore",
  .tp_doc = "The compiled hot path of coop.EventLoop (a base class of it).",
  .tp_basicsize = sizeof (LoopCore),
  .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
  .tp_new = core_new,
  .tp_dealloc = (destructor) core_dealloc,
  .tp_traverse = (traverseproc) core_traverse,
  .tp_clear = (inquiry) core_clear,
  .tp_methods = core_methods,
  .tp_members = core_members,
  .tp_getset = core_getset,
};

/* --- Driver ------------------------------------------------------------ */

/* A CoopDriver whose function is a Python callable, called straight from
 * the GSource dispatch (the introspected Coop.Driver goes through a GI
 * closure on every main-loop iteration that runs asyncio). */
typedef struct
{
  PyObject_HEAD
  CoopDriver *driver;
} Driver;

static gint64
driver_func (gboolean fd_ready, gpointer user_data)
{
  PyGILState_STATE gil = PyGILState_Ensure ();
  PyObject *arg = PyBool_FromLong (fd_ready);
  PyObject *r = PyObject_CallOneArg ((PyObject *) user_data, arg);
  gint64 next = -1;

  Py_DECREF (arg);
  if (r == NULL)
    PyErr_WriteUnraisable ((PyObject *) user_data);
  else
    {
      next = PyLong_AsLongLong (r);
      if (next == -1 && PyErr_Occurred ())
        PyErr_WriteUnraisable ((PyObject *) user_data);
      Py_DECREF (r);
    }
  PyGILState_Release (gil);
  return next;
}

static void
driver_notify (gpointer user_data)
{
  PyGILState_STATE gil = PyGILState_Ensure ();

  Py_DECREF ((PyObject *) user_data);
  PyGILState_Release (gil);
}

/* Driver(coop_loop.__gpointer__, fd, func, error_factory): error_factory
 * (domain, code, message) makes the GLib.Error raised on failure. */
static int
driver_init (Driver *self, PyObject *args, PyObject *kwds)
{
  PyObject *capsule, *func, *factory;
  CoopLoop *loop;
  GError *error = NULL;
  int fd;

  if (!PyArg_ParseTuple (args, "O!iOO", &PyCapsule_Type, &capsule, &fd, &func, &factory))
    return -1;
  if (self->driver != NULL)
    {
      PyErr_SetString (PyExc_RuntimeError, "Driver already initialised");
      return -1;
    }
  loop = PyCapsule_GetPointer (capsule, NULL);
  if (loop == NULL)
    return -1;
  if (!COOP_IS_LOOP (loop))
    {
      PyErr_SetString (PyExc_TypeError, "not a Coop.Loop");
      return -1;
    }
  Py_INCREF (func);
  self->driver = coop_driver_new (loop, fd, driver_func, func, driver_notify, &error);
  if (self->driver == NULL)
    {
      PyObject *exc = PyObject_CallFunction (factory, "sis", g_quark_to_string (error->domain),
                                             error->code, error->message);

      g_error_free (error);
      if (exc != NULL)
        {
          PyErr_SetObject ((PyObject *) Py_TYPE (exc), exc);
          Py_DECREF (exc);
        }
      return -1;
    }
  return 0;
}

static PyObject *
driver_set_ready_time (Driver *self, PyObject *arg)
{
  long long t = PyLong_AsLongLong (arg);

  if (t == -1 && PyErr_Occurred ())
    return NULL;
  if (self->driver != NULL)
    coop_driver_set_ready_time (self->driver, t);
  Py_RETURN_NONE;
}

static PyObject *
driver_destroy (Driver *self, PyObject *unused)
{
  if (self->driver != NULL)
    coop_driver_destroy (self->driver);
  Py_RETURN_NONE;
}

static void
driver_dealloc (Driver *self)
{
  if (self->driver != NULL)
    {
      coop_driver_destroy (self->driver);
      g_object_unref (self->driver);
    }
  Py_TYPE (self)->tp_free ((PyObject *) self);
}

static PyMethodDef driver_methods[] = {
  { "set_ready_time", (PyCFunction) driver_set_ready_time, METH_O, NULL },
  { "destroy", (PyCFunction) driver_destroy, METH_NOARGS, NULL },
  { NULL }
};

static PyTypeObject DriverType = {
  PyVarObject_HEAD_INIT (NULL, 0)
  .tp_name = "coop._speedups.Driver",
  .tp_doc = "A Coop.Driver whose Python function is called without GI in between.",
  .tp_basicsize = sizeof (Driver),
  .tp_flags = Py_TPFLAGS_DEFAULT,
  .tp_new = PyType_GenericNew,
  .tp_init = (initproc) driver_init,
  .tp_dealloc = (destructor) driver_dealloc,
  .tp_methods = driver_methods,
};

/* --- setup ------------------------------------------------------------- */

static int
slot_offset (PyTypeObject *type, const char *name, Py_ssize_t *offset)
{
  PyObject *descr = PyDict_GetItemString (type->tp_dict, name);

  if (descr == NULL || !PyObject_TypeCheck (descr, &PyMemberDescr_Type))
    {
      PyErr_Format (PyExc_TypeError, "%s.%s is not a slot", type->tp_name, name);
      return -1;
    }
  *offset = ((PyMemberDescrObject *) descr)->d_member->offset;
  return 0;
}

/* setup(Handle, TimerHandle, Future, Task, heappush, heappop, report_error,
 *       call_soon, _call_soon, call_soon_threadsafe, call_at, call_later,
 *       create_task, _run_iterations) */
static PyObject *
speedups_setup (PyObject *module, PyObject *args)
{
  PyObject *h, *t, *f, *tk, *push, *pop, *report, *cs, *_cs, *cst, *ca, *cl, *ct, *ri;

  if (!PyArg_ParseTuple (args, "O!O!OOOOOOOOOOOO", &PyType_Type, &h, &PyType_Type, &t,
                         &f, &tk, &push, &pop, &report, &cs, &_cs, &cst, &ca, &cl, &ct, &ri))
    return NULL;
  if (!PyType_IsSubtype ((PyTypeObject *) t, (PyTypeObject *) h))
    {
      PyErr_SetString (PyExc_TypeError, "TimerHandle must derive from Handle");
      return NULL;
    }
  if (slot_offset ((PyTypeObject *) h, "_callback", &off_callback) < 0 ||
      slot_offset ((PyTypeObject *) h, "_args", &off_args) < 0 ||
      slot_offset ((PyTypeObject *) h, "_cancelled", &off_cancelled) < 0 ||
      slot_offset ((PyTypeObject *) h, "_loop", &off_loop) < 0 ||
      slot_offset ((PyTypeObject *) h, "_source_traceback", &off_source_traceback) < 0 ||
      slot_offset ((PyTypeObject *) h, "_repr", &off_repr) < 0 ||
      slot_offset ((PyTypeObject *) h, "_context", &off_context) < 0 ||
      slot_offset ((PyTypeObject *) t, "_scheduled", &off_scheduled) < 0 ||
      slot_offset ((PyTypeObject *) t, "_when", &off_when) < 0)
    return NULL;

  Py_XSETREF (handle_type, (PyTypeObject *) Py_NewRef (h));
  Py_XSETREF (timer_type, (PyTypeObject *) Py_NewRef (t));
  Py_XSETREF (future_type, Py_NewRef (f));
  Py_XSETREF (task_type, Py_NewRef (tk));
  Py_XSETREF (heappush, Py_NewRef (push));
  Py_XSETREF (heappop, Py_NewRef (pop));
  Py_XSETREF (report_error, Py_NewRef (report));
  Py_XSETREF (py_call_soon, Py_NewRef (cs));
  Py_XSETREF (py__call_soon, Py_NewRef (_cs));
  Py_XSETREF (py_call_soon_threadsafe, Py_NewRef (cst));
  Py_XSETREF (py_call_at, Py_NewRef (ca));
  Py_XSETREF (py_call_later, Py_NewRef (cl));
  Py_XSETREF (py_create_task, Py_NewRef (ct));
  Py_XSETREF (py_run_iterations, Py_NewRef (ri));
  Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
  { "setup", speedups_setup, METH_VARARGS,
    "Hands asyncio's classes and the pure-Python fallbacks to the core." },
  { "compile_transport", coop_py_compile_transport, METH_O, NULL },
  { NULL }
};

static struct PyModuleDef module_def = {
  PyModuleDef_HEAD_INIT,
  .m_name = "coop._speedups",
  .m_doc = "The compiled hot path of coop.EventLoop.",
  .m_size = -1,
  .m_methods = module_methods,
};

/* asyncio's socket transports read with sock.recv(max_size), 256 KiB: a
 * fresh bytes object of that size per read, shrunk to what was read.  With
 * glibc's initial mmap threshold (128 KiB) a block that size, when the heap
 * has no room for it, is mmap()ed, and the read is then an mmap, a page
 * fault, an mremap and at the end an munmap: measured, that doubled the CPU
 * per request of a TCP echo server holding 1,000 idle connections (whose
 * heap is fragmented).  glibc raises the threshold by itself the first time
 * the program frees an mmap()ed block bigger than it (and never if the
 * program set M_MMAP_THRESHOLD), so reads come from the heap in a process
 * where that happened; here it is made to happen, once per process.
 *
 * Only a block that was really mmap()ed raises it, and a block of that size
 * may come from free space in the heap instead: blocks are allocated (and
 * kept) until one is mmap()ed, which raises the threshold when it is freed,
 * or until one is served by growing the heap, which shows the threshold is
 * above that size already.  mallinfo2() tells which (glibc 2.33 and later;
 * nothing is done elsewhere, nor with other allocators). */
#define ASYNCIO_READ_SIZE (256 * 1024)
#define THRESHOLD_PROBE_SIZE (ASYNCIO_READ_SIZE + 64 * 1024)
#define THRESHOLD_PROBE_MAX 32

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>

static void
raise_malloc_mmap_threshold (void)
{
  void *volatile blocks[THRESHOLD_PROBE_MAX];   /* (not elided) */
  int n = 0;

  while (n < THRESHOLD_PROBE_MAX)
    {
      struct mallinfo2 before = mallinfo2 ();
      struct mallinfo2 after;
      void *block = malloc (THRESHOLD_PROBE_SIZE);

      if (block == NULL)
        break;
      blocks[n++] = block;
      after = mallinfo2 ();
      if (after.hblks > before.hblks || after.arena > before.arena)
        break;      /* mmap()ed (freeing it raises the threshold), or above it */
    }
  while (n > 0)
    free (blocks[--n]);
}
#else
static void
raise_malloc_mmap_threshold (void)
{
}
#endif

PyMODINIT_FUNC PyInit__speedups (void);

PyMODINIT_FUNC
PyInit__speedups (void)
{
  PyObject *m;

  if (PyType_Ready (&LoopCoreType) < 0 || PyType_Ready (&DriverType) < 0)
    return NULL;
  raise_malloc_mmap_threshold ();
  str_wake_at = PyUnicode_InternFromString ("_wake_at");
  str_poll_io = PyUnicode_InternFromString ("_poll_io");
  str_purge_timers = PyUnicode_InternFromString ("_purge_timers");
  str_on_stop = PyUnicode_InternFromString ("_on_stop");
  str_write_to_self = PyUnicode_InternFromString ("_write_to_self");
  kw_loop = Py_BuildValue ("(s)", "loop");
  str_remove_reader = PyUnicode_InternFromString ("_remove_reader");
  str_remove_writer = PyUnicode_InternFromString ("_remove_writer");
  str_process_events = PyUnicode_InternFromString ("_process_events");
  str_selector = PyUnicode_InternFromString ("_selector");
  str_select = PyUnicode_InternFromString ("select");
  str_context = PyUnicode_InternFromString ("context");
  zero = PyLong_FromLong (0);
  if (!str_wake_at || !str_poll_io || !str_purge_timers || !str_on_stop ||
      !str_write_to_self || !kw_loop || !zero ||
      !str_remove_reader || !str_remove_writer || !str_process_events || !str_selector || !str_select ||
      !str_context)
    return NULL;
  m = PyModule_Create (&module_def);
  if (m == NULL)
    return NULL;
  if (PyModule_AddObjectRef (m, "LoopCore", (PyObject *) &LoopCoreType) < 0 ||
      PyModule_AddObjectRef (m, "Driver", (PyObject *) &DriverType) < 0)
    {
      Py_DECREF (m);
      return NULL;
    }
  return m;
}
