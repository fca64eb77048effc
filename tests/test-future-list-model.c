/* test-future-list-model.c: CoopFutureListModel through plain GListModel
 * signals (tests/gtk/test-future-list-model-gtk.c puts a GtkListView on it).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "coop-test.h"

#include <gio/gio.h>

typedef struct
{
  GArray *changes;   /* ItemsChanged */
  guint   n_failed_signals;
  GPtrArray *failed_futures;
} Watcher;

typedef struct
{
  guint position, removed, added;
  gboolean in_dispatch;   /* emitted from a source of the loop's context */
} ItemsChanged;

static void
on_items_changed (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  gpointer    user_data)
{
  Watcher *w = user_data;
  ItemsChanged c = { position, removed, added, g_main_current_source () != NULL };

  g_array_append_val (w->changes, c);
}

static void
on_failed (CoopFutureListModel *model,
           CoopFuture          *future,
           gpointer             user_data)
{
  Watcher *w = user_data;

  w->n_failed_signals++;
  g_ptr_array_add (w->failed_futures, g_object_ref (future));
}

static void
watcher_init (Watcher *w, CoopFutureListModel *model)
{
  w->changes = g_array_new (FALSE, FALSE, sizeof (ItemsChanged));
  w->failed_futures = g_ptr_array_new_with_free_func (g_object_unref);
  w->n_failed_signals = 0;
  g_signal_connect (model, "items-changed", G_CALLBACK (on_items_changed), w);
  g_signal_connect (model, "failed", G_CALLBACK (on_failed), w);
}

static void
watcher_clear (Watcher *w)
{
  g_array_unref (w->changes);
  g_ptr_array_unref (w->failed_futures);
}

static GObject *
named (const char *name)
{
  GObject *object = G_OBJECT (g_simple_action_new (name, NULL));

  return object;
}

/* Finishes @future with a new object named @name. */
static void
set_named (CoopFuture *future, const char *name)
{
  g_autoptr(GObject) object = named (name);

  coop_future_set_object (future, object);
}

static const char *
item_name (GListModel *model, guint position)
{
  g_autoptr(GObject) item = g_list_model_get_item (model, position);

  g_assert_nonnull (item);
  return g_action_get_name (G_ACTION (item));
}

/* Items appear in completion order, one items-changed each, from the loop. */
static void
test_order (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFutureListModel) model = coop_future_list_model_new (G_TYPE_SIMPLE_ACTION);
  GListModel *list = G_LIST_MODEL (model);
  CoopFuture *a = coop_future_new (f->loop);
  CoopFuture *b = coop_future_new (f->loop);
  CoopFuture *c = coop_future_new (f->loop);
  Watcher w;

  watcher_init (&w, model);
  g_assert_true (g_list_model_get_item_type (list) == G_TYPE_SIMPLE_ACTION);
  coop_future_list_model_add (model, a);
  coop_future_list_model_add (model, b);
  coop_future_list_model_add (model, c);
  g_assert_cmpuint (coop_future_list_model_get_n_pending (model), ==, 3);
  g_assert_cmpuint (g_list_model_get_n_items (list), ==, 0);

  /* c, then a: the model shows c first. */
  set_named (c, "c");
  g_assert_null (g_list_model_get_item (list, 0));
  /* Nothing inside set_object: items arrive from the loop. */
  g_assert_cmpuint (w.changes->len, ==, 0);
  set_named (a, "a");
  coop_test_drain ();
  g_assert_cmpuint (w.changes->len, ==, 2);
  g_assert_cmpuint (g_list_model_get_n_items (list), ==, 2);
  g_assert_cmpstr (item_name (list, 0), ==, "c");
  g_assert_cmpstr (item_name (list, 1), ==, "a");
  for (guint i = 0; i < 2; i++)
    {
      ItemsChanged *ch = &g_array_index (w.changes, ItemsChanged, i);

      g_assert_cmpuint (ch->position, ==, i);
      g_assert_cmpuint (ch->removed, ==, 0);
      g_assert_cmpuint (ch->added, ==, 1);
      g_assert_true (ch->in_dispatch);
    }
  g_assert_cmpuint (coop_future_list_model_get_n_pending (model), ==, 1);
  g_assert_null (g_list_model_get_item (list, 2));

  set_named (b, "b");
  coop_test_drain ();
  g_assert_cmpstr (item_name (list, 2), ==, "b");
  g_assert_cmpuint (coop_future_list_model_get_n_pending (model), ==, 0);
  g_assert_cmpuint (coop_future_list_model_get_n_failed (model), ==, 0);
  {
    guint n_items;

    g_object_get (model, "n-items", &n_items, NULL);
    g_assert_cmpuint (n_items, ==, 3);
  }

  /* A future done already: its item comes from the loop too. */
  {
    CoopFuture *d = coop_future_new (f->loop);

    set_named (d, "d");
    coop_future_list_model_add (model, d);
    g_assert_cmpuint (g_list_model_get_n_items (list), ==, 3);
    coop_test_drain ();
    g_assert_cmpstr (item_name (list, 3), ==, "d");
    g_object_unref (d);
  }

  g_object_unref (a);
  g_object_unref (b);
  g_object_unref (c);
  watcher_clear (&w);
}

static void
fail_task (CoopTask *task, gpointer data)
{
  coop_future_take_error (COOP_FUTURE (task),
                          g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "no"));
}

static void
object_task (CoopTask *task, gpointer data)
{
  g_autoptr(CoopFuture) nap = coop_sleep (coop_future_get_loop (COOP_FUTURE (task)), 1000);

  if (coop_await (nap, NULL))
    set_named (COOP_FUTURE (task), data);
}

/* Failed, cancelled and empty futures add no item: counted and signalled,
 * and their errors are not reported as unretrieved. */
static void
test_failures (CoopFixture *f, gconstpointer data)
{
  g_autoptr(CoopFutureListModel) model = coop_future_list_model_new (G_TYPE_SIMPLE_ACTION);
  GListModel *list = G_LIST_MODEL (model);
  g_autoptr(CoopFuture) cancelled = coop_future_new (f->loop);
  g_autoptr(CoopFuture) none = coop_future_new (f->loop);
  g_autoptr(CoopTask) failing = NULL;
  g_autoptr(CoopTask) good = NULL;
  g_autoptr(GtSignalLogger) logger = gt_signal_logger_new ();
  guint n_failed = 0;
  Watcher w;

  watcher_init (&w, model);
  gt_signal_logger_connect (logger, model, "notify::n-failed");
  /* Fire and forget: the model holds the tasks. */
  coop_future_list_model_add (model, COOP_FUTURE (failing = coop_task_new (f->loop, fail_task, NULL, NULL)));
  coop_future_list_model_add (model, COOP_FUTURE (good = coop_task_new (f->loop, object_task, "good", NULL)));
  coop_future_list_model_add (model, cancelled);
  coop_future_list_model_add (model, none);
  coop_future_cancel (cancelled, NULL);
  coop_future_set_none (none);
  coop_test_wait_until (coop_future_list_model_get_n_pending (model) == 0);

  g_assert_cmpuint (g_list_model_get_n_items (list), ==, 1);
  g_assert_cmpstr (item_name (list, 0), ==, "good");
  g_assert_cmpuint (coop_future_list_model_get_n_failed (model), ==, 3);
  g_object_get (model, "n-failed", &n_failed, NULL);
  g_assert_cmpuint (n_failed, ==, 3);
  g_assert_cmpuint (w.n_failed_signals, ==, 3);
  g_assert_cmpuint (gt_signal_logger_get_n_emissions (logger), ==, 3);
  while (gt_signal_logger_pop_emission (logger, NULL, NULL, NULL, NULL))
    ;
  g_assert_true (g_ptr_array_find (w.failed_futures, failing, NULL));
  g_assert_true (g_ptr_array_find (w.failed_futures, cancelled, NULL));
  g_assert_true (g_ptr_array_find (w.failed_futures, none, NULL));
  watcher_clear (&w);
}

static void
test_wrong_type (CoopFixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      CoopFutureListModel *model = coop_future_list_model_new (G_TYPE_SIMPLE_ACTION);
      CoopFuture *future = coop_future_new (f->loop);

      coop_future_list_model_add (model, future);
      coop_future_set_object (future, G_OBJECT (g_menu_new ()));
      coop_test_drain ();
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*GMenu, which is not a GSimpleAction*");
}

/* The model goes first: pending futures are let go, callbacks already
 * queued find nothing to update. */
static void
test_dispose_pending (CoopFixture *f, gconstpointer data)
{
  CoopFutureListModel *model = coop_future_list_model_new (G_TYPE_OBJECT);
  g_autoptr(CoopFuture) queued = coop_future_new (f->loop);
  g_autoptr(CoopFuture) pending = coop_future_new (f->loop);

  coop_future_list_model_add (model, queued);
  coop_future_list_model_add (model, pending);
  set_named (queued, "q");   /* its callback is queued */
  g_object_unref (model);
  coop_test_drain ();
  set_named (pending, "p");
  coop_test_drain ();
}

static void
test_misuse (void)
{
  g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*G_TYPE_OBJECT*");
  g_assert_null (coop_future_list_model_new (G_TYPE_INT));
  g_test_assert_expected_messages ();
  {
    g_autoptr(CoopFutureListModel) model = coop_future_list_model_new (G_TYPE_OBJECT);

    g_test_expect_message ("Coop", G_LOG_LEVEL_CRITICAL, "*COOP_IS_FUTURE*");
    coop_future_list_model_add (model, NULL);
    g_test_assert_expected_messages ();
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  coop_test_add ("/coop/future-list-model/order", test_order);
  coop_test_add ("/coop/future-list-model/failures", test_failures);
  coop_test_add ("/coop/future-list-model/wrong-type", test_wrong_type);
  coop_test_add ("/coop/future-list-model/dispose-pending", test_dispose_pending);
  g_test_add_func ("/coop/future-list-model/misuse", test_misuse);
  return g_test_run ();
}
