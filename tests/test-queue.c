/* test-queue.c: CoopQueue — orders, back-pressure, join, shutdown,
 * cancellation and ownership of pointer items.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

/* --- helpers ------------------------------------------------------------------------ */

static CoopFuture *
put_int (CoopQueue *queue,
         gint64     v,
         int        priority)
{
  GValue value = G_VALUE_INIT;
  CoopFuture *future;

  g_value_init (&value, G_TYPE_INT64);
  g_value_set_int64 (&value, v);
  future = coop_queue_put (queue, &value, priority);
  g_value_unset (&value);
  return future;
}

static gboolean
put_int_nowait (CoopQueue  *queue,
                gint64      v,
                int         priority,
                GError    **error)
{
  GValue value = G_VALUE_INIT;
  gboolean ok;

  g_value_init (&value, G_TYPE_INT64);
  g_value_set_int64 (&value, v);
  ok = coop_queue_put_nowait (queue, &value, priority, error);
  g_value_unset (&value);
  return ok;
}

/* Takes an int64 item now; the queue must not be empty. */
static gint64
get_int_nowait (CoopQueue *queue)
{
  GValue value = G_VALUE_INIT;
  g_autoptr(GError) error = NULL;
  gint64 v;

  g_assert_true (coop_queue_get_nowait (queue, &value, &error));
  g_assert_no_error (error);
  g_assert_true (G_VALUE_HOLDS_INT64 (&value));
  v = g_value_get_int64 (&value);
  g_value_unset (&value);
  return v;
}

/* Pointer items that count how often they are freed. */
#define N_TRACKED 64
static int tracked_frees[N_TRACKED];

static gpointer
tracked_new (int id)
{
  int *item = g_new (int, 1);

  g_assert_cmpint (id, <, N_TRACKED);
  *item = id;
  return item;
}

static void
tracked_free (gpointer data)
{
  int *item = data;

  tracked_frees[*item]++;
  g_free (item);
}

static void
tracked_reset (void)
{
  memset (tracked_frees, 0, sizeof tracked_frees);
}

/* An actor: a task that gets or puts one or more items. */
typedef struct
{
  CoopQueue  *queue;
  GString    *log;
  const char *name;
  int         n;          /* items to put / get */
  gint64      first;      /* first value to put */
  gboolean    pointers;   /* put tracked pointers (ids first .. first + n - 1) */
  int         done;       /* items put / got */
  gint64      got[16];
  GError     *error;
  gboolean    finished;
} Actor;

static void
actor_clear (Actor *a)
{
  g_clear_error (&a->error);
}

static void
actor_fail (CoopTask *task, Actor *a)
{
  /* End the task cancelled if it was; other errors stay in the actor. */
  if (g_error_matches (a->error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    coop_future_set_error (COOP_FUTURE (task), a->error);
}

static void
consumer_body (CoopTask *task, gpointer data)
{
  Actor *a = data;
  int i;

  for (i = 0; i < a->n; i++)
    {
      g_autoptr(CoopFuture) item = coop_queue_get (a->queue);

      if (!coop_await (item, &a->error))
        {
          if (a->log != NULL)
            g_string_append_printf (a->log, "%s:error;", a->name);
          actor_fail (task, a);
          break;
        }
      if (a->pointers)
        {
          int *p = coop_future_get_pointer (item, NULL);

          a->got[a->done++] = *p;
        }
      else
        a->got[a->done++] = coop_future_get_int64 (item, NULL);
      if (a->log != NULL)
        g_string_append_printf (a->log, "%s:%" G_GINT64_FORMAT ";", a->name, a->got[a->done - 1]);
    }
  a->finished = TRUE;
}

static void
producer_body (CoopTask *task, gpointer data)
{
  Actor *a = data;
  int i;

  for (i = 0; i < a->n; i++)
    {
      g_autoptr(CoopFuture) put = NULL;

      if (a->pointers)
        put = coop_queue_put_pointer (a->queue, tracked_new (a->first + i), tracked_free, 0);
      else
        put = put_int (a->queue, a->first + i, 0);
      if (!coop_await (put, &a->error))
        {
          if (a->log != NULL)
            g_string_append_printf (a->log, "%s:error;", a->name);
          actor_fail (task, a);
          break;
        }
      a->done++;
      if (a->log != NULL)
        g_string_append_printf (a->log, "%s+%" G_GINT64_FORMAT ";", a->name, a->first + i);
    }
  a->finished = TRUE;
}

static CoopTask *
actor_start (CoopFixture *f, CoopTaskFunc body, Actor *a)
{
  return coop_task_new (f->loop, body, a, NULL);
}

/* --- construction and properties ---------------------------------------------------- */

static void
test_new (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 3, COOP_QUEUE_LIFO);
  g_autoptr(CoopQueue) plain = NULL;
  g_autoptr(CoopLoop) loop = NULL;
  guint maxsize = 0;
  CoopQueueOrder order = COOP_QUEUE_FIFO;
  GEnumClass *enum_class;

  g_assert_true (COOP_IS_QUEUE (queue));
  g_assert_cmpuint (coop_queue_get_maxsize (queue), ==, 3);
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 0);
  g_assert_true (coop_queue_is_empty (queue));
  g_assert_false (coop_queue_is_full (queue));
  g_assert_false (coop_queue_is_shut_down (queue));
  g_object_get (queue, "loop", &loop, "maxsize", &maxsize, "order", &order, NULL);
  g_assert_true (loop == f->loop);
  g_assert_cmpuint (maxsize, ==, 3);
  g_assert_cmpint (order, ==, COOP_QUEUE_LIFO);
  g_clear_object (&loop);

  /* The defaults: the thread's default loop, unbounded, FIFO. */
  plain = g_object_new (COOP_TYPE_QUEUE, NULL);
  g_object_get (plain, "loop", &loop, "maxsize", &maxsize, "order", &order, NULL);
  g_assert_true (loop == f->loop);
  g_assert_cmpuint (maxsize, ==, 0);
  g_assert_cmpint (order, ==, COOP_QUEUE_FIFO);
  g_clear_object (&plain);
  plain = coop_queue_new (NULL, 0, COOP_QUEUE_PRIORITY);
  g_clear_object (&loop);
  g_object_get (plain, "loop", &loop, NULL);
  g_assert_true (loop == f->loop);

  /* An unbounded queue is never full. */
  for (int i = 0; i < 1000; i++)
    g_assert_true (put_int_nowait (plain, i, 0, NULL));
  g_assert_false (coop_queue_is_full (plain));
  g_assert_cmpuint (coop_queue_get_size (plain), ==, 1000);

  enum_class = g_type_class_ref (COOP_TYPE_QUEUE_ORDER);
  g_assert_cmpstr (g_enum_get_value (enum_class, COOP_QUEUE_FIFO)->value_nick, ==, "fifo");
  g_assert_cmpstr (g_enum_get_value (enum_class, COOP_QUEUE_LIFO)->value_nick, ==, "lifo");
  g_assert_cmpstr (g_enum_get_value (enum_class, COOP_QUEUE_PRIORITY)->value_nick, ==, "priority");
  g_type_class_unref (enum_class);
}

/* --- orders ---------------------------------------------------------------------------- */

static void
test_fifo (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  int i;

  /* The priority is ignored. */
  for (i = 0; i < 40; i++)
    g_assert_true (put_int_nowait (queue, i, 40 - i, NULL));
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 40);
  for (i = 0; i < 20; i++)
    g_assert_cmpint (get_int_nowait (queue), ==, i);
  /* Wrap around the ring while it holds items. */
  for (i = 40; i < 100; i++)
    g_assert_true (put_int_nowait (queue, i, 0, NULL));
  for (i = 20; i < 100; i++)
    g_assert_cmpint (get_int_nowait (queue), ==, i);
  g_assert_true (coop_queue_is_empty (queue));
}

static void
test_lifo (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 0, COOP_QUEUE_LIFO);
  g_autoptr(CoopFuture) got = NULL;
  int i;

  for (i = 0; i < 40; i++)
    g_assert_true (put_int_nowait (queue, i, i % 3, NULL));
  for (i = 39; i >= 30; i--)
    g_assert_cmpint (get_int_nowait (queue), ==, i);
  g_assert_true (put_int_nowait (queue, 100, 0, NULL));
  got = coop_queue_get (queue);
  g_assert_cmpint (coop_future_get_int64 (got, NULL), ==, 100);
  for (i = 29; i >= 0; i--)
    g_assert_cmpint (get_int_nowait (queue), ==, i);
  g_assert_true (coop_queue_is_empty (queue));
}

static void
test_priority (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 0, COOP_QUEUE_PRIORITY);
  GRand *rand = g_rand_new_with_seed (42);
  int last_priority = G_MININT;
  gint64 last_value = -1;
  int i;

  /* value = priority * 1000 + order of insertion within the priority. */
  int per_priority[10] = { 0 };
  for (i = 0; i < 500; i++)
    {
      int priority = g_rand_int_range (rand, -5, 5);

      g_assert_true (put_int_nowait (queue, (priority + 5) * 1000 + per_priority[priority + 5]++, priority, NULL));
    }
  for (i = 0; i < 500; i++)
    {
      gint64 v = get_int_nowait (queue);
      int priority = (int) (v / 1000) - 5;

      g_assert_cmpint (priority, >=, last_priority);
      if (priority == last_priority)
        g_assert_cmpint (v, ==, last_value + 1);   /* FIFO among equals */
      else
        g_assert_cmpint (v % 1000, ==, 0);
      last_priority = priority;
      last_value = v;
    }
  g_assert_true (coop_queue_is_empty (queue));

  /* Interleaved puts and gets. */
  g_assert_true (put_int_nowait (queue, 5, 5, NULL));
  g_assert_true (put_int_nowait (queue, 1, 1, NULL));
  g_assert_true (put_int_nowait (queue, 3, 3, NULL));
  g_assert_cmpint (get_int_nowait (queue), ==, 1);
  g_assert_true (put_int_nowait (queue, 0, 0, NULL));
  g_assert_true (put_int_nowait (queue, 4, 3, NULL));
  g_assert_cmpint (get_int_nowait (queue), ==, 0);
  g_assert_cmpint (get_int_nowait (queue), ==, 3);
  g_assert_cmpint (get_int_nowait (queue), ==, 4);
  g_assert_cmpint (get_int_nowait (queue), ==, 5);
  g_rand_free (rand);
}

/* Items of any GValue type, copied in and out. */
static void
test_value_types (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  g_autoptr(GObject) object = g_object_new (G_TYPE_OBJECT, NULL);
  g_autoptr(CoopFuture) got_string = NULL;
  g_autoptr(CoopFuture) got_object = NULL;
  g_autoptr(CoopFuture) put = NULL;
  GValue value = G_VALUE_INIT;
  GValue out = G_VALUE_INIT;
  char buffer[8] = "hello";

  g_value_init (&value, G_TYPE_STRING);
  g_value_set_string (&value, buffer);
  g_assert_true (coop_queue_put_nowait (queue, &value, 0, NULL));
  g_value_unset (&value);
  buffer[0] = 'j';   /* copied in */

  g_value_init (&value, G_TYPE_OBJECT);
  g_value_set_object (&value, object);
  put = coop_queue_put (queue, &value, 0);   /* finished at once */
  g_assert_cmpint (coop_future_get_state (put), ==, COOP_FUTURE_STATE_FINISHED);
  g_value_unset (&value);
  g_assert_cmpint (G_OBJECT (object)->ref_count, ==, 2);

  g_value_init (&value, G_TYPE_DOUBLE);
  g_value_set_double (&value, 2.5);
  g_assert_true (coop_queue_put_nowait (queue, &value, 0, NULL));
  g_value_unset (&value);

  got_string = coop_queue_get (queue);
  g_assert_cmpstr (coop_future_get_string (got_string, NULL), ==, "hello");
  got_object = coop_queue_get (queue);
  g_assert_true (coop_future_get_object (got_object, NULL) == object);
  g_assert_true (coop_queue_get_nowait (queue, &out, NULL));
  g_assert_true (G_VALUE_HOLDS_DOUBLE (&out));
  g_assert_cmpfloat (g_value_get_double (&out), ==, 2.5);
  g_value_unset (&out);

  g_clear_object (&got_object);
  g_assert_cmpint (G_OBJECT (object)->ref_count, ==, 1);
}

/* --- nowait ------------------------------------------------------------------------------- */

static void
test_nowait_errors (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 2, COOP_QUEUE_FIFO);
  g_autoptr(GError) error = NULL;
  GValue value = G_VALUE_INIT;
  GDestroyNotify notify = NULL;
  int stack_item = 3;
  gpointer taken;

  tracked_reset ();
  g_assert_false (coop_queue_get_nowait (queue, &value, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_QUEUE_EMPTY);
  g_assert_false (G_IS_VALUE (&value));
  g_clear_error (&error);
  g_assert_null (coop_queue_get_pointer_nowait (queue, &notify, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_QUEUE_EMPTY);
  g_clear_error (&error);

  g_assert_true (put_int_nowait (queue, 1, 0, &error));
  g_assert_no_error (error);
  g_assert_true (coop_queue_put_pointer_nowait (queue, tracked_new (0), tracked_free, 0, &error));
  g_assert_no_error (error);
  g_assert_true (coop_queue_is_full (queue));

  /* Full: the item stays the caller's. */
  g_assert_false (put_int_nowait (queue, 2, 0, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_QUEUE_FULL);
  g_clear_error (&error);
  g_assert_false (coop_queue_put_pointer_nowait (queue, &stack_item, NULL, 0, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_QUEUE_FULL);
  g_clear_error (&error);
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 2);

  /* An int is not a pointer: it stays in the queue. */
  g_assert_null (coop_queue_get_pointer_nowait (queue, &notify, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT);
  g_clear_error (&error);
  g_assert_cmpint (get_int_nowait (queue), ==, 1);

  /* A pointer that the queue owns does not fit a GValue: it stays too. */
  g_assert_false (coop_queue_get_nowait (queue, &value, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT);
  g_clear_error (&error);
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 1);

  /* A pointer without a notify is a plain G_TYPE_POINTER value. */
  g_assert_true (coop_queue_put_pointer_nowait (queue, &stack_item, NULL, 0, &error));
  g_assert_no_error (error);

  /* Without asking for the notify: the caller knows what it put. */
  taken = coop_queue_get_pointer_nowait (queue, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (*(int *) taken, ==, 0);
  g_assert_cmpint (tracked_frees[0], ==, 0);   /* the caller owns it now */
  tracked_free (taken);
  g_assert_cmpint (tracked_frees[0], ==, 1);

  g_assert_true (coop_queue_get_nowait (queue, &value, &error));
  g_assert_true (G_VALUE_HOLDS_POINTER (&value));
  g_assert_true (g_value_get_pointer (&value) == &stack_item);
  g_value_unset (&value);

  /* Shut down: puts fail, and an empty queue says so rather than "empty". */
  coop_queue_shutdown (queue, FALSE);
  g_assert_false (put_int_nowait (queue, 2, 0, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
  g_clear_error (&error);
  g_assert_false (coop_queue_put_pointer_nowait (queue, &stack_item, NULL, 0, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
  g_clear_error (&error);
  g_assert_false (coop_queue_get_nowait (queue, &value, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
  g_clear_error (&error);
  g_assert_null (coop_queue_get_pointer_nowait (queue, &notify, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
}

static void
test_get_pointer_nowait (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  GDestroyNotify notify = NULL;
  gpointer item;

  tracked_reset ();
  g_assert_true (coop_queue_put_pointer_nowait (queue, tracked_new (1), tracked_free, 0, NULL));
  g_assert_true (coop_queue_put_pointer_nowait (queue, NULL, NULL, 0, NULL));
  item = coop_queue_get_pointer_nowait (queue, &notify, NULL);
  g_assert_cmpint (*(int *) item, ==, 1);
  g_assert_true (notify == tracked_free);
  notify (item);
  g_assert_cmpint (tracked_frees[1], ==, 1);
  /* A NULL item, without an error. */
  notify = tracked_free;
  g_assert_null (coop_queue_get_pointer_nowait (queue, &notify, NULL));
  g_assert_null (notify);
}

/* --- waiting ------------------------------------------------------------------------------ */

/* Getters wait on an empty queue, first come first served; a put hands the
 * item straight to the oldest. */
static void
test_getters_wait (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 1, COOP_QUEUE_FIFO);
  g_autoptr(GString) log = g_string_new (NULL);
  Actor a = { .queue = queue, .log = log, .name = "a", .n = 2 };
  Actor b = { .queue = queue, .log = log, .name = "b", .n = 1 };
  g_autoptr(CoopTask) ta = actor_start (f, consumer_body, &a);
  g_autoptr(CoopTask) tb = actor_start (f, consumer_body, &b);
  g_autoptr(CoopFuture) direct = NULL;
  g_autoptr(CoopFuture) put = NULL;

  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "");
  /* A future got outside a task waits too, behind the tasks. */
  direct = coop_queue_get (queue);
  g_assert_false (coop_future_is_done (direct));

  g_assert_true (put_int_nowait (queue, 10, 0, NULL));
  g_assert_true (coop_queue_is_empty (queue));   /* handed over */
  put = put_int (queue, 11, 0);
  g_assert_true (coop_future_is_done (put));     /* handed over too: no wait */
  g_assert_true (put_int_nowait (queue, 12, 0, NULL));
  g_assert_cmpint (coop_future_get_int64 (direct, NULL), ==, 12);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:10;b:11;");
  g_assert_false (a.finished);

  g_assert_true (put_int_nowait (queue, 13, 0, NULL));
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:10;b:11;a:13;");
  g_assert_true (a.finished && b.finished);
}

/* A bounded queue of 2: the producer is held back until a consumer gets. */
static void
test_back_pressure (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 2, COOP_QUEUE_FIFO);
  g_autoptr(GString) log = g_string_new (NULL);
  Actor p = { .queue = queue, .log = log, .name = "p", .n = 6, .first = 1 };
  Actor c = { .queue = queue, .log = log, .name = "c", .n = 4 };
  g_autoptr(CoopTask) tp = actor_start (f, producer_body, &p);
  g_autoptr(CoopTask) tc = NULL;

  coop_test_drain ();
  /* Two items went in; the third put waits. */
  g_assert_cmpstr (log->str, ==, "p+1;p+2;");
  g_assert_true (coop_queue_is_full (queue));
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 2);
  g_assert_false (p.finished);

  /* A get makes room: the waiting item enters at once. */
  g_assert_cmpint (get_int_nowait (queue), ==, 1);
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 2);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "p+1;p+2;p+3;");

  /* A consumer task takes the rest, in order. */
  tc = actor_start (f, consumer_body, &c);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (tc), NULL));
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (tp), NULL));
  g_assert_cmpint (c.got[0], ==, 2);
  g_assert_cmpint (c.got[1], ==, 3);
  g_assert_cmpint (c.got[2], ==, 4);
  g_assert_cmpint (c.got[3], ==, 5);
  g_assert_cmpint (get_int_nowait (queue), ==, 6);
  g_assert_true (p.finished);
  g_assert_cmpint (p.done, ==, 6);
}

/* Waiting putters are served first in, first out; a PRIORITY queue then
 * orders what entered. */
static void
test_putters_fifo (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 1, COOP_QUEUE_PRIORITY);
  g_autoptr(CoopFuture) p1 = NULL;
  g_autoptr(CoopFuture) p2 = NULL;
  g_autoptr(CoopFuture) p3 = NULL;
  g_autoptr(CoopFuture) late = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (put_int_nowait (queue, 100, 100, NULL));
  p1 = put_int (queue, 50, 50);
  p2 = put_int (queue, 1, 1);
  p3 = put_int (queue, 20, 20);
  g_assert_false (coop_future_is_done (p1));
  g_assert_false (coop_future_is_done (p2));
  g_assert_false (coop_future_is_done (p3));
  /* A nowait put does not jump the line. */
  g_assert_false (put_int_nowait (queue, 0, 0, &error));
  g_assert_error (error, COOP_ERROR, COOP_ERROR_QUEUE_FULL);

  g_assert_cmpint (get_int_nowait (queue), ==, 100);
  g_assert_true (coop_future_is_done (p1));
  g_assert_false (coop_future_is_done (p2));
  g_assert_cmpint (get_int_nowait (queue), ==, 50);
  g_assert_true (coop_future_is_done (p2));
  late = put_int (queue, 0, 0);   /* behind p3 */
  g_assert_cmpint (get_int_nowait (queue), ==, 1);
  g_assert_true (coop_future_is_done (p3));
  g_assert_false (coop_future_is_done (late));
  g_assert_cmpint (get_int_nowait (queue), ==, 20);
  g_assert_true (coop_future_is_done (late));
  g_assert_cmpint (get_int_nowait (queue), ==, 0);
  g_assert_true (coop_future_propagate (p1, NULL) && coop_future_propagate (p2, NULL) &&
                 coop_future_propagate (p3, NULL) && coop_future_propagate (late, NULL));
}

/* --- join and task_done --------------------------------------------------------------------- */

static void
test_join (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  g_autoptr(CoopFuture) empty = coop_queue_join (queue);
  g_autoptr(CoopFuture) join = NULL;
  g_autoptr(CoopFuture) join2 = NULL;
  g_autoptr(CoopFuture) cancelled = NULL;
  g_autoptr(CoopFuture) got = NULL;

  g_assert_cmpint (coop_future_get_state (empty), ==, COOP_FUTURE_STATE_FINISHED);
  g_assert_true (put_int_nowait (queue, 1, 0, NULL));
  g_assert_true (put_int_nowait (queue, 2, 0, NULL));
  join = coop_queue_join (queue);
  cancelled = coop_queue_join (queue);
  join2 = coop_queue_join (queue);
  g_assert_false (coop_future_is_done (join));
  g_assert_true (coop_future_cancel (cancelled, NULL));

  get_int_nowait (queue);
  coop_queue_task_done (queue);
  g_assert_false (coop_future_is_done (join));
  /* Items taken but not marked done keep it waiting. */
  got = coop_queue_get (queue);
  g_assert_false (coop_future_is_done (join));
  /* An item put meanwhile counts too. */
  g_assert_true (put_int_nowait (queue, 3, 0, NULL));
  coop_queue_task_done (queue);
  g_assert_false (coop_future_is_done (join));
  get_int_nowait (queue);
  coop_queue_task_done (queue);
  g_assert_cmpint (coop_future_get_state (join), ==, COOP_FUTURE_STATE_FINISHED);
  g_assert_cmpint (coop_future_get_state (join2), ==, COOP_FUTURE_STATE_FINISHED);
  g_assert_true (coop_future_is_cancelled (cancelled));

  /* One more is a programming error. */
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*task_done*more times*");
  coop_queue_task_done (queue);
  g_test_assert_expected_messages ();

  g_clear_object (&empty);
  empty = coop_queue_join (queue);
  g_assert_true (coop_future_is_done (empty));
}

static void
joiner_body (CoopTask *task, gpointer data)
{
  Actor *a = data;
  g_autoptr(CoopFuture) join = coop_queue_join (a->queue);

  g_assert_true (coop_await (join, NULL));
  g_string_append (a->log, "joined;");
}

static void
worker_body (CoopTask *task, gpointer data)
{
  Actor *a = data;

  for (;;)
    {
      g_autoptr(CoopFuture) item = coop_queue_get (a->queue);
      g_autoptr(CoopFuture) nap = NULL;

      if (!coop_await (item, &a->error))
        break;
      nap = coop_sleep (coop_future_get_loop (item), 100);
      g_assert_true (coop_await (nap, NULL));
      g_string_append_printf (a->log, "w%" G_GINT64_FORMAT ";", coop_future_get_int64 (item, NULL));
      coop_queue_task_done (a->queue);
    }
}

/* A joiner task wakes once workers have marked every item done. */
static void
test_join_tasks (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  g_autoptr(GString) log = g_string_new (NULL);
  Actor a = { .queue = queue, .log = log };
  g_autoptr(CoopTask) joiner = NULL;
  g_autoptr(CoopTask) worker = NULL;
  int i;

  for (i = 1; i <= 3; i++)
    g_assert_true (put_int_nowait (queue, i, 0, NULL));
  joiner = actor_start (f, joiner_body, &a);
  worker = actor_start (f, worker_body, &a);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (joiner), NULL));
  g_assert_cmpstr (log->str, ==, "w1;w2;w3;joined;");
  coop_queue_shutdown (queue, FALSE);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (worker), NULL));
  g_assert_error (a.error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
  actor_clear (&a);
}

/* --- shutdown ---------------------------------------------------------------------------------- */

/* Graceful: waiting producers fail and their items are released; consumers
 * still get the items left, then fail; later puts fail. */
static void
test_shutdown_graceful (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 2, COOP_QUEUE_FIFO);
  g_autoptr(GString) log = g_string_new (NULL);
  Actor p1 = { .queue = queue, .log = log, .name = "p1", .n = 3, .first = 0, .pointers = TRUE };
  Actor p2 = { .queue = queue, .log = log, .name = "p2", .n = 2, .first = 10, .pointers = TRUE };
  Actor c = { .queue = queue, .log = log, .name = "c", .n = 5, .pointers = TRUE };
  g_autoptr(CoopTask) tp1 = NULL;
  g_autoptr(CoopTask) tp2 = NULL;
  g_autoptr(CoopTask) tc = NULL;
  g_autoptr(CoopFuture) join = NULL;
  g_autoptr(CoopFuture) put = NULL;
  g_autoptr(CoopFuture) get = NULL;

  tracked_reset ();
  tp1 = actor_start (f, producer_body, &p1);
  tp2 = actor_start (f, producer_body, &p2);
  coop_test_drain ();
  /* 0 and 1 are in; p1 waits with 2, p2 with 10. */
  g_assert_cmpstr (log->str, ==, "p1+0;p1+1;");
  join = coop_queue_join (queue);

  coop_queue_shutdown (queue, FALSE);
  g_assert_true (coop_queue_is_shut_down (queue));
  /* The waiting items never entered: released now. */
  g_assert_cmpint (tracked_frees[2], ==, 1);
  g_assert_cmpint (tracked_frees[10], ==, 1);
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 2);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "p1+0;p1+1;p1:error;p2:error;");
  g_assert_error (p1.error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
  g_assert_error (p2.error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
  g_assert_cmpint (coop_future_get_state (COOP_FUTURE (tp1)), ==, COOP_FUTURE_STATE_FINISHED);

  /* Later puts fail at once; a pointer item is released. */
  put = coop_queue_put_pointer (queue, tracked_new (20), tracked_free, 0);
  g_assert_cmpint (coop_future_get_state (put), ==, COOP_FUTURE_STATE_FAILED);
  g_assert_false (coop_future_propagate (put, NULL));
  g_assert_cmpint (tracked_frees[20], ==, 1);
  g_clear_object (&put);
  put = put_int (queue, 1, 0);
  g_assert_false (coop_future_propagate (put, NULL));

  /* The consumer gets what is left, then the error. */
  tc = actor_start (f, consumer_body, &c);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (tc), NULL));
  g_assert_cmpstr (log->str, ==, "p1+0;p1+1;p1:error;p2:error;c:0;c:1;c:error;");
  g_assert_error (c.error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
  get = coop_queue_get (queue);
  g_assert_cmpint (coop_future_get_state (get), ==, COOP_FUTURE_STATE_FAILED);
  g_assert_false (coop_future_propagate (get, NULL));

  /* The consumer's futures freed the two items it got. */
  g_assert_cmpint (tracked_frees[0], ==, 1);
  g_assert_cmpint (tracked_frees[1], ==, 1);
  g_assert_false (coop_future_is_done (join));
  coop_queue_task_done (queue);
  coop_queue_task_done (queue);
  g_assert_true (coop_future_is_done (join));

  actor_clear (&p1);
  actor_clear (&p2);
  actor_clear (&c);
}

/* Consumers waiting on an empty queue fail when it is shut down (either
 * way). */
static void
test_shutdown_wakes_getters (CoopFixture *f, gconstpointer data)
{
  gboolean immediate;

  for (immediate = FALSE; immediate <= TRUE; immediate++)
    {
      g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 1, COOP_QUEUE_LIFO);
      g_autoptr(GString) log = g_string_new (NULL);
      Actor c1 = { .queue = queue, .log = log, .name = "c1", .n = 1 };
      Actor c2 = { .queue = queue, .log = log, .name = "c2", .n = 1 };
      g_autoptr(CoopTask) t1 = actor_start (f, consumer_body, &c1);
      g_autoptr(CoopTask) t2 = actor_start (f, consumer_body, &c2);
      g_autoptr(CoopFuture) direct = NULL;

      coop_test_drain ();
      direct = coop_queue_get (queue);
      coop_queue_shutdown (queue, immediate);
      g_assert_cmpint (coop_future_get_state (direct), ==, COOP_FUTURE_STATE_FAILED);
      g_assert_error (coop_future_get_error (direct), COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
      coop_test_drain ();
      g_assert_cmpstr (log->str, ==, "c1:error;c2:error;");
      g_assert_error (c1.error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
      g_assert_error (c2.error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
      actor_clear (&c1);
      actor_clear (&c2);
    }
}

/* Immediate: the items left are dropped (released once, counted done so
 * join finishes), waiting producers fail, and every getter fails. */
static void
test_shutdown_immediate (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 3, COOP_QUEUE_PRIORITY);
  g_autoptr(GString) log = g_string_new (NULL);
  Actor p = { .queue = queue, .log = log, .name = "p", .n = 5, .first = 0, .pointers = TRUE };
  Actor c = { .queue = queue, .log = log, .name = "c", .n = 1, .pointers = TRUE };
  g_autoptr(CoopTask) tp = NULL;
  g_autoptr(CoopTask) tc = NULL;
  g_autoptr(CoopFuture) join = NULL;
  g_autoptr(CoopFuture) taken = NULL;
  int i;

  tracked_reset ();
  tp = actor_start (f, producer_body, &p);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "p+0;p+1;p+2;");
  taken = coop_queue_get (queue);   /* item 0, not marked done */
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "p+0;p+1;p+2;p+3;");
  join = coop_queue_join (queue);

  coop_queue_shutdown (queue, TRUE);
  /* 1, 2, 3 dropped; 4 (waiting) released; 0 still with its future. */
  for (i = 1; i <= 4; i++)
    g_assert_cmpint (tracked_frees[i], ==, 1);
  g_assert_cmpint (tracked_frees[0], ==, 0);
  g_assert_true (coop_queue_is_empty (queue));
  g_assert_false (coop_future_is_done (join));   /* item 0 is not done */
  coop_queue_task_done (queue);
  g_assert_true (coop_future_is_done (join));

  tc = actor_start (f, consumer_body, &c);
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (tc), NULL));
  g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (tp), NULL));
  g_assert_cmpstr (log->str, ==, "p+0;p+1;p+2;p+3;p:error;c:error;");
  g_assert_error (p.error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
  g_assert_error (c.error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);

  g_clear_object (&taken);
  g_assert_cmpint (tracked_frees[0], ==, 1);
  /* Shutting down again is harmless. */
  coop_queue_shutdown (queue, FALSE);
  coop_queue_shutdown (queue, TRUE);
  actor_clear (&p);
  actor_clear (&c);
}

/* A graceful shutdown, then an immediate one, drops what was left. */
static void
test_shutdown_twice (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  g_autoptr(CoopFuture) join = NULL;

  tracked_reset ();
  g_assert_true (coop_queue_put_pointer_nowait (queue, tracked_new (0), tracked_free, 0, NULL));
  g_assert_true (coop_queue_put_pointer_nowait (queue, tracked_new (1), tracked_free, 0, NULL));
  join = coop_queue_join (queue);
  coop_queue_shutdown (queue, FALSE);
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 2);
  coop_queue_shutdown (queue, TRUE);
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 0);
  g_assert_cmpint (tracked_frees[0], ==, 1);
  g_assert_cmpint (tracked_frees[1], ==, 1);
  g_assert_true (coop_future_is_done (join));
}

/* --- cancellation --------------------------------------------------------------------------------- */

/* A getter whose task is cancelled leaves the line: the next item goes to
 * the getter behind it, or into the queue. */
static void
test_cancel_getter (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  g_autoptr(GString) log = g_string_new (NULL);
  Actor a = { .queue = queue, .log = log, .name = "a", .n = 1 };
  Actor b = { .queue = queue, .log = log, .name = "b", .n = 1 };
  g_autoptr(CoopTask) ta = actor_start (f, consumer_body, &a);
  g_autoptr(CoopTask) tb = actor_start (f, consumer_body, &b);
  g_autoptr(CoopFuture) direct = NULL;

  coop_test_drain ();
  g_assert_true (coop_task_cancel (ta, NULL));
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:error;");
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (ta)));

  g_assert_true (put_int_nowait (queue, 1, 0, NULL));
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:error;b:1;");

  /* A future cancelled directly leaves the line too. */
  direct = coop_queue_get (queue);
  g_assert_true (coop_future_cancel (direct, NULL));
  g_assert_true (coop_future_is_cancelled (direct));
  g_assert_true (put_int_nowait (queue, 2, 0, NULL));
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 1);
  g_assert_cmpint (get_int_nowait (queue), ==, 2);
  actor_clear (&a);
}

/* A putter whose task is cancelled never adds its item, which is released
 * once; the putters behind it move up. */
static void
test_cancel_putter (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 1, COOP_QUEUE_FIFO);
  g_autoptr(GString) log = g_string_new (NULL);
  Actor p = { .queue = queue, .log = log, .name = "p", .n = 2, .first = 0, .pointers = TRUE };
  Actor q = { .queue = queue, .log = log, .name = "q", .n = 1, .first = 5, .pointers = TRUE };
  g_autoptr(CoopTask) tp = NULL;
  g_autoptr(CoopTask) tq = NULL;
  g_autoptr(CoopFuture) join = NULL;
  g_autoptr(CoopFuture) direct = NULL;
  GDestroyNotify notify;
  gpointer item;

  tracked_reset ();
  tp = actor_start (f, producer_body, &p);
  tq = actor_start (f, producer_body, &q);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "p+0;");   /* p waits with 1, q with 5 */
  g_assert_true (coop_task_cancel (tp, NULL));
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "p+0;p:error;");
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (tp)));
  g_assert_cmpint (tracked_frees[1], ==, 1);
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 1);

  item = coop_queue_get_pointer_nowait (queue, &notify, NULL);
  g_assert_cmpint (*(int *) item, ==, 0);
  notify (item);
  coop_queue_task_done (queue);
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "p+0;p:error;q+5;");
  item = coop_queue_get_pointer_nowait (queue, &notify, NULL);
  g_assert_cmpint (*(int *) item, ==, 5);
  notify (item);
  coop_queue_task_done (queue);
  /* The cancelled item was never counted. */
  join = coop_queue_join (queue);
  g_assert_true (coop_future_is_done (join));

  /* A put future cancelled directly. */
  g_assert_true (coop_queue_put_pointer_nowait (queue, tracked_new (6), tracked_free, 0, NULL));
  direct = coop_queue_put_pointer (queue, tracked_new (7), tracked_free, 0);
  g_assert_true (coop_future_cancel (direct, NULL));
  g_assert_cmpint (tracked_frees[7], ==, 1);
  coop_queue_shutdown (queue, TRUE);
  g_assert_cmpint (tracked_frees[6], ==, 1);
  for (int i = 0; i < 8; i++)
    g_assert_cmpint (tracked_frees[i], ==, (i <= 1 || i >= 5) ? 1 : 0);
  actor_clear (&p);
}

/* The hand-off race: an item is handed to a waiting getter, and its task is
 * cancelled before it resumes.  The item is not lost: it goes to the next
 * waiting consumer. */
static void
test_cancel_handoff (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  g_autoptr(GString) log = g_string_new (NULL);
  Actor a = { .queue = queue, .log = log, .name = "a", .n = 1, .pointers = TRUE };
  Actor b = { .queue = queue, .log = log, .name = "b", .n = 1, .pointers = TRUE };
  g_autoptr(CoopTask) ta = actor_start (f, consumer_body, &a);
  g_autoptr(CoopTask) tb = actor_start (f, consumer_body, &b);
  g_autoptr(CoopFuture) join = NULL;

  tracked_reset ();
  coop_test_drain ();
  g_assert_true (coop_queue_put_pointer_nowait (queue, tracked_new (7), tracked_free, 0, NULL));
  /* Delivered to a; a has not resumed yet. */
  g_assert_true (coop_future_is_done (coop_task_get_awaiting (ta)));
  g_assert_true (coop_task_cancel (ta, NULL));
  coop_test_drain ();
  g_assert_cmpstr (log->str, ==, "a:error;b:7;");
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (ta)));
  g_assert_true (b.finished);
  g_assert_cmpint (b.got[0], ==, 7);
  g_assert_cmpint (tracked_frees[7], ==, 1);   /* freed with b's future */
  g_assert_true (coop_queue_is_empty (queue));
  /* Put once, so one task_done finishes a join. */
  join = coop_queue_join (queue);
  coop_queue_task_done (queue);
  g_assert_true (coop_future_is_done (join));
  actor_clear (&a);
}

/* With nobody else waiting, the item goes back to the front, where it came
 * from, and a later consumer gets it first. */
static void
test_cancel_handoff_front (CoopFixture *f, gconstpointer data)
{
  static const CoopQueueOrder orders[] = { COOP_QUEUE_FIFO, COOP_QUEUE_LIFO, COOP_QUEUE_PRIORITY };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (orders); i++)
    {
      g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 2, orders[i]);
      g_autoptr(GString) log = g_string_new (NULL);
      Actor a = { .queue = queue, .log = log, .name = "a", .n = 1 };
      Actor c = { .queue = queue, .log = log, .name = "c", .n = 3 };
      g_autoptr(CoopTask) ta = actor_start (f, consumer_body, &a);
      g_autoptr(CoopTask) tc = NULL;
      g_autoptr(CoopFuture) put = NULL;

      coop_test_drain ();
      g_assert_true (put_int_nowait (queue, 1, 5, NULL));   /* to a */
      g_assert_true (put_int_nowait (queue, 2, 5, NULL));
      g_assert_true (put_int_nowait (queue, 3, 5, NULL));
      put = put_int (queue, 4, 5);                          /* waits: full */
      g_assert_true (coop_task_cancel (ta, NULL));
      coop_test_drain ();
      g_assert_cmpstr (log->str, ==, "a:error;");
      /* Back in: one more than maxsize for a while. */
      g_assert_cmpuint (coop_queue_get_size (queue), ==, 3);
      g_assert_false (coop_future_is_done (put));

      tc = actor_start (f, consumer_body, &c);
      g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (tc), NULL));
      if (orders[i] == COOP_QUEUE_LIFO)
        g_assert_cmpstr (log->str, ==, "a:error;c:1;c:3;c:4;");
      else
        g_assert_cmpstr (log->str, ==, "a:error;c:1;c:2;c:3;");
      g_assert_true (coop_future_is_done (put));
      g_assert_cmpuint (coop_queue_get_size (queue), ==, 1);
      actor_clear (&a);
    }
}

/* An item is handed over, then the queue is shut down immediately before
 * the cancelled getter resumes: the item is dropped (released once, and
 * counted done). */
static void
test_cancel_handoff_after_shutdown (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  Actor a = { .queue = queue, .n = 1, .pointers = TRUE };
  g_autoptr(CoopTask) ta = actor_start (f, consumer_body, &a);
  g_autoptr(CoopFuture) join = NULL;

  tracked_reset ();
  coop_test_drain ();
  g_assert_true (coop_queue_put_pointer_nowait (queue, tracked_new (3), tracked_free, 0, NULL));
  join = coop_queue_join (queue);
  coop_task_cancel (ta, NULL);
  coop_queue_shutdown (queue, TRUE);
  g_assert_cmpint (tracked_frees[3], ==, 0);
  coop_test_drain ();
  g_assert_true (coop_future_is_cancelled (COOP_FUTURE (ta)));
  g_assert_cmpint (tracked_frees[3], ==, 1);
  g_assert_true (coop_future_is_done (join));
  actor_clear (&a);
}

/* A getter whose task was cancelled before it even awaited: the item it
 * took at once goes back. */
static void
cancelled_getter_body (CoopTask *task, gpointer data)
{
  Actor *a = data;
  g_autoptr(CoopFuture) item = NULL;

  coop_task_cancel (task, NULL);
  item = coop_queue_get (a->queue);
  g_assert_true (coop_future_is_done (item));
  g_assert_false (coop_await (item, &a->error));
  g_assert_error (a->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_cancel_immediate_get (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopQueue) queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  Actor a = { .queue = queue };
  g_autoptr(CoopTask) ta = NULL;

  g_assert_true (put_int_nowait (queue, 1, 0, NULL));
  g_assert_true (put_int_nowait (queue, 2, 0, NULL));
  ta = actor_start (f, cancelled_getter_body, &a);
  coop_test_drain ();
  g_assert_true (coop_future_is_done (COOP_FUTURE (ta)));
  g_assert_cmpuint (coop_queue_get_size (queue), ==, 2);
  g_assert_cmpint (get_int_nowait (queue), ==, 1);
  g_assert_cmpint (get_int_nowait (queue), ==, 2);
  actor_clear (&a);
}

/* --- ownership ------------------------------------------------------------------------------ */

/* Every pointer item is freed exactly once, whichever way it leaves. */
static void
test_pointer_ownership (CoopFixture *f, gconstpointer data)
{
  CoopQueue *queue = coop_queue_new (f->loop, 4, COOP_QUEUE_FIFO);
  CoopFuture *got;
  CoopFuture *waiting_put;
  int i;

  tracked_reset ();
  for (i = 0; i < 4; i++)
    g_assert_true (coop_queue_put_pointer_nowait (queue, tracked_new (i), tracked_free, 0, NULL));

  /* Taken through a future: the future owns it. */
  got = coop_queue_get (queue);
  g_assert_cmpint (*(int *) coop_future_get_pointer (got, NULL), ==, 0);
  g_assert_cmpint (tracked_frees[0], ==, 0);
  g_object_unref (got);
  g_assert_cmpint (tracked_frees[0], ==, 1);

  /* Waiting to enter when the queue is finalized. */
  g_assert_true (coop_queue_put_pointer_nowait (queue, tracked_new (4), tracked_free, 0, NULL));
  waiting_put = coop_queue_put_pointer (queue, tracked_new (5), tracked_free, 0);
  g_assert_false (coop_future_is_done (waiting_put));

  /* Finalized with items inside, and a putter waiting. */
  g_object_unref (queue);
  for (i = 0; i < 6; i++)
    g_assert_cmpint (tracked_frees[i], ==, 1);
  g_assert_true (coop_future_is_cancelled (waiting_put));
  g_object_unref (waiting_put);
}

/* A queue finalized with getters and joiners waiting cancels them. */
static void
test_finalize_waiters (CoopFixture *f, gconstpointer data)
{
  CoopQueue *queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  Actor a = { .queue = queue, .n = 1 };
  g_autoptr(CoopTask) ta = actor_start (f, consumer_body, &a);
  g_autoptr(CoopFuture) direct = NULL;
  g_autoptr(CoopFuture) join = NULL;

  coop_test_drain ();
  g_assert_true (put_int_nowait (queue, 1, 0, NULL));   /* to a */
  coop_test_drain ();
  g_assert_true (a.finished);
  direct = coop_queue_get (queue);
  join = coop_queue_join (queue);
  g_assert_false (coop_future_is_done (direct));
  g_assert_false (coop_future_is_done (join));
  g_object_unref (queue);
  g_assert_true (coop_future_is_cancelled (direct));
  g_assert_true (coop_future_is_cancelled (join));
  actor_clear (&a);
}

/* A delivered future keeps the queue alive (it may have to give the item
 * back); the queue goes when the future does. */
static void
test_delivered_keeps_queue (CoopFixture *f, gconstpointer data)
{
  CoopQueue *queue = coop_queue_new (f->loop, 0, COOP_QUEUE_FIFO);
  CoopFuture *got;
  GWeakRef weak;

  g_weak_ref_init (&weak, queue);
  g_assert_true (put_int_nowait (queue, 1, 0, NULL));
  got = coop_queue_get (queue);
  g_object_unref (queue);
  queue = g_weak_ref_get (&weak);
  g_assert_nonnull (queue);
  g_object_unref (queue);
  g_object_unref (got);
  g_assert_null (g_weak_ref_get (&weak));
  g_weak_ref_clear (&weak);
}

/* --- a million items ------------------------------------------------------------------------ */

typedef struct
{
  CoopQueue *queue;
  guint8    *seen;
  guint      n_items;
  guint      n_producers;
  guint      received;
  guint      duplicates;
} Stress;

typedef struct
{
  Stress *stress;
  guint   index;
} StressProducer;

static void
stress_producer (CoopTask *task, gpointer data)
{
  StressProducer *p = data;
  Stress *s = p->stress;
  GValue value = G_VALUE_INIT;
  guint v;

  g_value_init (&value, G_TYPE_INT64);
  for (v = p->index; v < s->n_items; v += s->n_producers)
    {
      CoopFuture *put;
      GError *error = NULL;

      g_value_set_int64 (&value, v);
      put = coop_queue_put (s->queue, &value, 0);
      if (!coop_await (put, &error))
        g_error ("put: %s", error->message);
      g_object_unref (put);
    }
}

static void
stress_consumer (CoopTask *task, gpointer data)
{
  Stress *s = data;

  for (;;)
    {
      CoopFuture *item = coop_queue_get (s->queue);
      GError *error = NULL;
      gint64 v;

      if (!coop_await (item, &error))
        {
          g_assert_error (error, COOP_ERROR, COOP_ERROR_QUEUE_SHUT_DOWN);
          g_error_free (error);
          g_object_unref (item);
          return;
        }
      v = coop_future_get_int64 (item, NULL);
      g_object_unref (item);
      g_assert_cmpint (v, >=, 0);
      g_assert_cmpint (v, <, s->n_items);
      if (s->seen[v]++ != 0)
        s->duplicates++;
      s->received++;
      coop_queue_task_done (s->queue);
    }
}

static void
test_million (CoopFixture *f, gconstpointer data)
{
  const char *env = g_getenv ("COOP_TEST_QUEUE_ITEMS");
  Stress s = { .n_items = env != NULL ? (guint) g_ascii_strtoull (env, NULL, 10) : 1000000,
               .n_producers = 4 };
  StressProducer producers[4];
  CoopTask *tasks[8];
  g_autoptr(CoopFuture) join = NULL;
  gint64 start, elapsed;
  guint i;

  s.queue = coop_queue_new (f->loop, 100, COOP_QUEUE_FIFO);
  s.seen = g_new0 (guint8, s.n_items);

  start = g_get_monotonic_time ();
  for (i = 0; i < 4; i++)
    {
      producers[i] = (StressProducer) { &s, i };
      tasks[i] = coop_task_new (f->loop, stress_producer, &producers[i], NULL);
      tasks[4 + i] = coop_task_new (f->loop, stress_consumer, &s, NULL);
    }
  for (i = 0; i < 4; i++)
    g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (tasks[i]), NULL));
  join = coop_queue_join (s.queue);
  g_assert_true (coop_loop_run_until_complete (f->loop, join, NULL));
  coop_queue_shutdown (s.queue, FALSE);
  for (i = 4; i < 8; i++)
    g_assert_true (coop_loop_run_until_complete (f->loop, COOP_FUTURE (tasks[i]), NULL));
  elapsed = g_get_monotonic_time () - start;

  g_assert_cmpuint (s.received, ==, s.n_items);
  g_assert_cmpuint (s.duplicates, ==, 0);
  for (i = 0; i < s.n_items; i++)
    if (G_UNLIKELY (s.seen[i] != 1))
      g_error ("item %u arrived %u times", i, s.seen[i]);
  g_test_message ("%u items through a queue of 100, 4 producers and 4 consumers: "
                  "%.3f s, %.0f items/s",
                  s.n_items, elapsed / 1e6, s.n_items / (elapsed / 1e6));

  for (i = 0; i < 8; i++)
    g_object_unref (tasks[i]);
  g_object_unref (s.queue);
  g_free (s.seen);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/queue/new", test_new);
  coop_test_add ("/coop/queue/fifo", test_fifo);
  coop_test_add ("/coop/queue/lifo", test_lifo);
  coop_test_add ("/coop/queue/priority", test_priority);
  coop_test_add ("/coop/queue/value-types", test_value_types);
  coop_test_add ("/coop/queue/nowait-errors", test_nowait_errors);
  coop_test_add ("/coop/queue/get-pointer-nowait", test_get_pointer_nowait);
  coop_test_add ("/coop/queue/getters-wait", test_getters_wait);
  coop_test_add ("/coop/queue/back-pressure", test_back_pressure);
  coop_test_add ("/coop/queue/putters-fifo", test_putters_fifo);
  coop_test_add ("/coop/queue/join", test_join);
  coop_test_add ("/coop/queue/join-tasks", test_join_tasks);
  coop_test_add ("/coop/queue/shutdown/graceful", test_shutdown_graceful);
  coop_test_add ("/coop/queue/shutdown/wakes-getters", test_shutdown_wakes_getters);
  coop_test_add ("/coop/queue/shutdown/immediate", test_shutdown_immediate);
  coop_test_add ("/coop/queue/shutdown/twice", test_shutdown_twice);
  coop_test_add ("/coop/queue/cancel/getter", test_cancel_getter);
  coop_test_add ("/coop/queue/cancel/putter", test_cancel_putter);
  coop_test_add ("/coop/queue/cancel/handoff", test_cancel_handoff);
  coop_test_add ("/coop/queue/cancel/handoff-front", test_cancel_handoff_front);
  coop_test_add ("/coop/queue/cancel/handoff-after-shutdown", test_cancel_handoff_after_shutdown);
  coop_test_add ("/coop/queue/cancel/immediate-get", test_cancel_immediate_get);
  coop_test_add ("/coop/queue/pointer-ownership", test_pointer_ownership);
  coop_test_add ("/coop/queue/finalize-waiters", test_finalize_waiters);
  coop_test_add ("/coop/queue/delivered-keeps-queue", test_delivered_keeps_queue);
  coop_test_add ("/coop/queue/million", test_million);

  return g_test_run ();
}
