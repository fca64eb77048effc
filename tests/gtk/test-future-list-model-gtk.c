/* test-future-list-model-gtk.c: a GtkListView with a GtkSingleSelection on a
 * CoopFutureListModel whose futures are tasks loading files with
 * coop_fs_load(); rows appear as the loads finish.  Run by
 * tests/gtk/run-gtk-app.sh under Xvfb (its convention: READY, then SIGUSR1).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>
#include <glib/gstdio.h>
#include <glib-unix.h>
#include <gtk/gtk.h>
#include <stdio.h>
#include <stdlib.h>

#define N_FILES 24

static GPtrArray *finish_order;   /* the names, as the tasks finished */
static gboolean got_usr1;

static void
fail (const char *message)
{
  g_printerr ("test-future-list-model-gtk: %s\n", message);
  exit (1);
}

/* Loads the file named by @user_data and finishes with its contents as a
 * GtkStringObject. */
static void
load_task (CoopTask *task,
           gpointer  user_data)
{
  const char *path = user_data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(CoopFuture) load = coop_fs_load (loop, path);
  g_autoptr(GError) error = NULL;
  g_autoptr(GtkStringObject) item = NULL;
  g_autofree char *text = NULL;
  GBytes *bytes;

  if (!coop_await (load, &error))
    {
      coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
      return;
    }
  bytes = coop_future_get_bytes (load, NULL);
  text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_ptr_array_add (finish_order, g_strdup (text));
  item = gtk_string_object_new (text);
  coop_future_set_object (COOP_FUTURE (task), G_OBJECT (item));
}

static void
setup_row (GtkSignalListItemFactory *factory,
           GtkListItem              *list_item,
           gpointer                  data)
{
  gtk_list_item_set_child (list_item, gtk_label_new (NULL));
}

static void
bind_row (GtkSignalListItemFactory *factory,
          GtkListItem              *list_item,
          gpointer                  data)
{
  GtkStringObject *item = gtk_list_item_get_item (list_item);

  gtk_label_set_text (GTK_LABEL (gtk_list_item_get_child (list_item)),
                      gtk_string_object_get_string (item));
}

/* The labels the list view shows, in order. */
static void
collect_labels (GtkWidget *widget,
                GPtrArray *out)
{
  GtkWidget *child;

  if (GTK_IS_LABEL (widget) && gtk_widget_get_mapped (widget))
    g_ptr_array_add (out, (gpointer) gtk_label_get_text (GTK_LABEL (widget)));
  for (child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    collect_labels (child, out);
}

static gboolean
on_usr1 (gpointer data)
{
  got_usr1 = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
on_timeout (gpointer data)
{
  fail ("gave up: COOP_GTK_AUTOTEST_TIMEOUT");
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autofree char *dir = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CoopFutureListModel) model = NULL;
  g_autoptr(GPtrArray) labels = NULL;
  GtkSingleSelection *selection;
  GtkListItemFactory *factory;
  GtkWidget *window, *scrolled, *view;
  GMainContext *context;
  const char *autotest = g_getenv ("COOP_GTK_AUTOTEST");
  const char *timeout = g_getenv ("COOP_GTK_AUTOTEST_TIMEOUT");
  GtkStringObject *selected;
  CoopLoop *loop;
  gint64 deadline;

  if (!gtk_init_check ())
    {
      g_printerr ("test-future-list-model-gtk: no display\n");
      return 77;
    }
  g_unix_signal_add (SIGUSR1, on_usr1, NULL);
  g_timeout_add_seconds (timeout != NULL ? (guint) atoi (timeout) : 60, on_timeout, NULL);
  context = g_main_context_default ();
  loop = coop_loop_get_default ();
  finish_order = g_ptr_array_new_with_free_func (g_free);

  dir = g_dir_make_tmp ("coop-flm-XXXXXX", &error);
  g_assert_no_error (error);

  model = coop_future_list_model_new (GTK_TYPE_STRING_OBJECT);
  selection = gtk_single_selection_new (G_LIST_MODEL (g_object_ref (model)));
  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (setup_row), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (bind_row), NULL);
  view = gtk_list_view_new (GTK_SELECTION_MODEL (g_object_ref (selection)), factory);
  scrolled = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), view);
  window = gtk_window_new ();
  gtk_window_set_title (GTK_WINDOW (window), "CoopFutureListModel");
  gtk_window_set_default_size (GTK_WINDOW (window), 400, 700);
  gtk_window_set_child (GTK_WINDOW (window), scrolled);
  gtk_window_present (GTK_WINDOW (window));

  /* The files, then one task per file (and one for a file that is not
   * there: it gives no row). */
  for (int i = 0; i < N_FILES; i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/file-%02d", dir, i);
      g_autofree char *text = g_strdup_printf ("file %02d: loaded with coop_fs_load()", i);

      if (!g_file_set_contents (path, text, -1, &error))
        fail (error->message);
    }
  for (int i = 0; i <= N_FILES; i++)
    {
      g_autoptr(CoopTask) task = NULL;

      task = coop_task_new (loop, load_task, g_strdup_printf ("%s/file-%02d", dir, i), g_free);
      coop_future_list_model_add (model, COOP_FUTURE (task));
    }

  /* Until every future is done and the view shows rows. */
  labels = g_ptr_array_new ();
  deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  for (;;)
    {
      g_ptr_array_set_size (labels, 0);
      collect_labels (view, labels);
      if (coop_future_list_model_get_n_pending (model) == 0 && labels->len > 0)
        break;
      if (g_get_monotonic_time () > deadline)
        fail ("the list view never showed the results");
      g_main_context_iteration (context, TRUE);
    }

  /* The selection sees every item, in completion order; the failed load
   * is counted, not shown. */
  if (g_list_model_get_n_items (G_LIST_MODEL (selection)) != N_FILES)
    fail ("the selection does not have one item per file");
  if (coop_future_list_model_get_n_failed (model) != 1)
    fail ("the missing file was not counted as failed");
  for (guint i = 0; i < N_FILES; i++)
    {
      g_autoptr(GtkStringObject) item = g_list_model_get_item (G_LIST_MODEL (selection), i);

      if (g_strcmp0 (gtk_string_object_get_string (item), finish_order->pdata[i]) != 0)
        fail ("the items are not in completion order");
    }
  selected = gtk_single_selection_get_selected_item (selection);
  if (selected == NULL || g_strcmp0 (gtk_string_object_get_string (selected), finish_order->pdata[0]) != 0)
    fail ("the first result is not selected");
  /* The rows the view made show the items' text. */
  for (guint i = 0; i < labels->len; i++)
    if (!g_str_has_prefix (labels->pdata[i], "file "))
      fail ("a row shows something else");

  if (g_strcmp0 (autotest, "1") == 0)
    {
      printf ("READY\n");
      fflush (stdout);
      while (!got_usr1)
        g_main_context_iteration (context, TRUE);
    }

  gtk_window_destroy (GTK_WINDOW (window));
  g_object_unref (selection);
  for (int i = 0; i < N_FILES; i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/file-%02d", dir, i);

      g_unlink (path);
    }
  g_rmdir (dir);
  g_ptr_array_unref (finish_order);
  return 0;
}
