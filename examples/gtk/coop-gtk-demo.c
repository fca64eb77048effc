/* coop-gtk-demo.c: hundreds of Coop tasks inside a GTK 4 application.
 *
 * The Start button spawns a few hundred C tasks (300 by default) on the
 * CoopLoop of the default GMainContext, the context GTK's own main loop
 * iterates: no thread, no polling, no second loop.  Each task works in
 * steps (a random sleep, then a little CPU work); a grid of cells shows
 * every task's progress, a progress bar and counters the totals, and the
 * frame clock's ticks (with the longest gap between two frames) show that
 * the window keeps drawing while the tasks churn.  Cancel cancels the
 * supervising task, which cancels every worker through its task group; the
 * workers see G_IO_ERROR_CANCELLED at their await and clean up.
 *
 * Self-driving mode (COOP_GTK_AUTOTEST=1, or --autotest), used by
 * tests/gtk/run-gtk-app.sh: the app clicks Start once its window is on
 * screen, waits until the tasks made visible progress (COOP_GTK_DEMO_READY_AT
 * percent of their steps, default 25), prints "READY" on stdout and waits
 * for SIGUSR1 (the harness takes its screenshot meanwhile), clicks Cancel,
 * checks that every task ended and that the counts add up, and quits with
 * status 0 (1, with a message, on any inconsistency or after
 * COOP_GTK_AUTOTEST_TIMEOUT seconds, default 60).  The driver is itself a
 * Coop task.  With COOP_GTK_DEMO_AUTOTEST_CLOSE=1 it closes the window
 * instead of pressing Cancel (the window cancels the run and goes away
 * once every task is done).  COOP_GTK_DEMO_TASKS and COOP_GTK_DEMO_CPU_USEC
 * set the defaults of --tasks and --cpu-usec.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>
#include <gtk/gtk.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#define APP_ID              "org.coop.GtkDemo"
#define DEFAULT_TASKS       300
#define DEFAULT_CPU_USEC    100
#define MIN_STEPS           8
#define MAX_STEPS           60
#define MIN_NAP_MS          20
#define MAX_NAP_MS          250
#define AUTOTEST_GOAL       25     /* percent of all steps done before READY */
#define SHUTDOWN_LIMIT_USEC (5 * G_USEC_PER_SEC)

typedef enum
{
  CELL_WAITING,
  CELL_RUNNING,
  CELL_FINISHED,
  CELL_CANCELLED,
  CELL_FAILED,
} CellState;

typedef struct _Demo Demo;
typedef struct _Run  Run;

/* One worker task's state, as the grid shows it. */
typedef struct
{
  Run      *run;
  guint     index;
  guint     n_steps;
  guint     step;
  CellState state;
} Worker;

/* One press of Start: the supervisor, its workers and their counts.  It
 * lives until the next run starts (the grid keeps showing it), and at least
 * until every worker's done callback has run. */
struct _Run
{
  Demo     *demo;
  CoopTask *supervisor;
  Worker   *workers;
  guint     n_tasks;
  guint     n_started;     /* spawned into the group */
  guint     n_running;     /* function entered and not yet returned */
  guint     n_finished;    /* ended with a result */
  guint     n_cancelled;   /* ended cancelled */
  guint     n_failed;      /* ended with another error */
  guint     n_done;        /* done callbacks run */
  guint     n_cleaned_up;  /* saw G_IO_ERROR_CANCELLED in their function */
  guint64   steps_done;
  guint64   steps_total;
  gint64    started_usec;
  gint64    ended_usec;
  gint64    max_gap_usec;  /* longest gap between two frames during the run */
  guint     supervisor_done : 1;
  guint     ended : 1;
  guint     cancel_requested : 1;
};

struct _Demo
{
  GtkApplication *app;
  CoopLoop       *loop;
  guint           n_tasks;
  guint           cpu_usec;

  GtkWidget *window;
  GtkWidget *tasks_spin;
  GtkWidget *start_button;
  GtkWidget *cancel_button;
  GtkWidget *spinner;
  GtkWidget *progress;
  GtkWidget *counts_label;
  GtkWidget *frames_label;
  GtkWidget *grid;

  Run     *run;
  gboolean dirty;            /* counts changed since the last frame */
  gboolean quit_when_ended;  /* the window was closed during a run */

  /* The frame clock, as seen from the window's tick callback. */
  guint64 n_frames;
  gint64  last_tick_usec;
  gint64  max_gap_usec;      /* since the window was shown (after warm-up) */
  guint64 fps_frames;
  gint64  fps_since_usec;
  double  fps;

  /* Self-driving mode. */
  gboolean   autotest;
  gboolean   autotest_close;  /* close the window instead of pressing Cancel */
  gint64     autotest_timeout_usec;
  guint      autotest_goal;  /* percent of the steps done before READY */
  CoopTask  *driver;
  gboolean   driver_reported;  /* its done callback ran */
  CoopEvent *shown;          /* the window drew a few frames */
  CoopEvent *progressed;     /* the run passed AUTOTEST_GOAL */
  CoopEvent *ended;          /* the run ended */
  int        exit_status;
};

static void run_maybe_end (Run *run);

/* --- the workers ------------------------------------------------------------ */

/* Stands for real work: a few microseconds of arithmetic over a buffer. */
static guint64
crunch (guint8 *buffer, gsize size, guint usec)
{
  gint64 until = g_get_monotonic_time () + usec;
  guint64 h = 14695981039346656037ull;

  do
    {
      gsize i;

      for (i = 0; i < size; i++)
        {
          h = (h ^ buffer[i]) * 1099511628211ull;
          buffer[i] = (guint8) (h >> 32);
        }
    }
  while (g_get_monotonic_time () < until);
  return h;
}

static void
work (CoopTask *task, gpointer data)
{
  Worker *worker = data;
  Run *run = worker->run;
  Demo *demo = run->demo;
  /* A resource the worker holds while it runs; the autofree is its
   * clean-up, whichever way the function returns. */
  g_autofree guint8 *buffer = g_malloc0 (256);
  guint64 checksum = 0;

  worker->state = CELL_RUNNING;
  run->n_running++;
  demo->dirty = TRUE;

  while (worker->step < worker->n_steps)
    {
      gint64 nap_usec = g_random_int_range (MIN_NAP_MS, MAX_NAP_MS + 1) * G_TIME_SPAN_MILLISECOND;
      g_autoptr(CoopFuture) nap = coop_sleep (demo->loop, nap_usec);
      g_autoptr(GError) error = NULL;

      if (!coop_await (nap, &error))
        {
          /* Cancelled (the only way a sleep fails): stop here, give the
           * error back so that the task ends CANCELLED. */
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            run->n_cleaned_up++;
          run->n_running--;
          demo->dirty = TRUE;
          coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
          return;
        }
      checksum ^= crunch (buffer, 256, demo->cpu_usec);
      worker->step++;
      run->steps_done++;
      demo->dirty = TRUE;
    }

  run->n_running--;
  demo->dirty = TRUE;
  coop_future_set_int64 (COOP_FUTURE (task), (gint64) (checksum >> 1));
}

/* Runs from the loop's ready queue once a worker is done, whether its
 * function ran or not (a task cancelled before it started never runs). */
static void
worker_done (CoopFuture *future, gpointer data)
{
  Worker *worker = data;
  Run *run = worker->run;

  switch (coop_future_get_state (future))
    {
    case COOP_FUTURE_STATE_FINISHED:
      worker->state = CELL_FINISHED;
      run->n_finished++;
      break;
    case COOP_FUTURE_STATE_CANCELLED:
      worker->state = CELL_CANCELLED;
      run->n_cancelled++;
      break;
    case COOP_FUTURE_STATE_FAILED:
    case COOP_FUTURE_STATE_PENDING:
    default:
      worker->state = CELL_FAILED;
      run->n_failed++;
      g_printerr ("worker %u failed: %s\n", worker->index,
                  coop_future_get_error (future) ? coop_future_get_error (future)->message : "?");
      break;
    }
  run->n_done++;
  run->demo->dirty = TRUE;
  run_maybe_end (run);
}

/* The run's supervisor: spawns every worker into a task group and joins
 * it.  Cancelling the supervisor cancels the workers (the group does it)
 * and the join returns once they are all done. */
static void
supervise (CoopTask *task, gpointer data)
{
  Run *run = data;
  g_autoptr(CoopTaskGroup) group = coop_task_group_new (run->demo->loop);
  g_autoptr(GError) error = NULL;
  guint i;

  for (i = 0; i < run->n_tasks; i++)
    {
      g_autofree char *name = g_strdup_printf ("worker-%u", i);
      CoopTask *worker = coop_task_group_spawn (group, name, work, &run->workers[i], NULL);

      coop_future_add_done_callback (COOP_FUTURE (worker), worker_done, &run->workers[i], NULL);
      run->n_started++;
    }
  run->demo->dirty = TRUE;

  if (!coop_task_group_join (group, &error))
    coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

static void
supervisor_done (CoopFuture *future, gpointer data)
{
  Run *run = data;
  const GError *error = coop_future_get_error (future);

  /* Reading the error counts as retrieving it; cancellation is the normal
   * way for Cancel to end. */
  if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_printerr ("the run failed: %s\n", error->message);
  run->supervisor_done = TRUE;
  run_maybe_end (run);
}

static Run *
run_new (Demo *demo, guint n_tasks)
{
  Run *run = g_new0 (Run, 1);
  guint i;

  run->demo = demo;
  run->n_tasks = n_tasks;
  run->workers = g_new0 (Worker, n_tasks);
  for (i = 0; i < n_tasks; i++)
    {
      Worker *worker = &run->workers[i];

      worker->run = run;
      worker->index = i;
      worker->n_steps = g_random_int_range (MIN_STEPS, MAX_STEPS + 1);
      worker->state = CELL_WAITING;
      run->steps_total += worker->n_steps;
    }
  run->started_usec = g_get_monotonic_time ();
  run->supervisor = coop_task_new_full (demo->loop, "supervisor", 0, supervise, run, NULL);
  coop_future_add_done_callback (COOP_FUTURE (run->supervisor), supervisor_done, run, NULL);
  return run;
}

static void
run_free (Run *run)
{
  if (run == NULL)
    return;
  g_assert (run->ended);
  g_clear_object (&run->supervisor);
  g_free (run->workers);
  g_free (run);
}

static gboolean
run_is_active (Run *run)
{
  return run != NULL && !run->ended;
}

/* Checks that the counts add up once a run ended; returns a description
 * of what is wrong, or NULL. */
static char *
run_check (Run *run)
{
  guint i;

  if (run->n_started != run->n_tasks)
    return g_strdup_printf ("%u tasks started, %u asked for", run->n_started, run->n_tasks);
  if (run->n_finished + run->n_cancelled + run->n_failed != run->n_started)
    return g_strdup_printf ("finished %u + cancelled %u + failed %u != started %u",
                            run->n_finished, run->n_cancelled, run->n_failed, run->n_started);
  if (run->n_failed != 0)
    return g_strdup_printf ("%u tasks failed", run->n_failed);
  if (run->n_running != 0)
    return g_strdup_printf ("%u tasks still running after the run ended", run->n_running);
  if (run->n_cleaned_up > run->n_cancelled)
    return g_strdup_printf ("%u tasks cleaned up after a cancellation, only %u cancelled",
                            run->n_cleaned_up, run->n_cancelled);
  for (i = 0; i < run->n_tasks; i++)
    {
      Worker *worker = &run->workers[i];

      if (worker->state == CELL_FINISHED && worker->step != worker->n_steps)
        return g_strdup_printf ("worker %u finished after %u of %u steps", i, worker->step, worker->n_steps);
      if (worker->state != CELL_FINISHED && worker->state != CELL_CANCELLED)
        return g_strdup_printf ("worker %u did not end", i);
    }
  return NULL;
}

/* --- the window --------------------------------------------------------------- */

static void
update_controls (Demo *demo)
{
  gboolean active = run_is_active (demo->run);

  gtk_widget_set_sensitive (demo->start_button, !active);
  gtk_widget_set_sensitive (demo->tasks_spin, !active);
  gtk_widget_set_sensitive (demo->cancel_button, active && !demo->run->cancel_requested);
}

static void
update_counts (Demo *demo)
{
  Run *run = demo->run;
  g_autofree char *counts = NULL;
  g_autofree char *steps = NULL;
  double fraction;

  if (run == NULL)
    {
      gtk_label_set_text (GTK_LABEL (demo->counts_label), "Press Start to run the tasks.");
      return;
    }
  fraction = run->steps_total > 0 ? (double) run->steps_done / run->steps_total : 0.0;
  steps = g_strdup_printf ("%" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT " steps (%.0f %%)",
                           run->steps_done, run->steps_total, 100 * fraction);
  gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (demo->progress), fraction);
  gtk_progress_bar_set_text (GTK_PROGRESS_BAR (demo->progress), steps);
  counts = g_strdup_printf ("started %u · running %u · finished %u · cancelled %u · failed %u%s",
                            run->n_started, run->n_running, run->n_finished,
                            run->n_cancelled, run->n_failed,
                            run->ended ? " · ended" : "");
  gtk_label_set_text (GTK_LABEL (demo->counts_label), counts);

  if (demo->progressed != NULL && 100 * fraction >= demo->autotest_goal)
    coop_event_set (demo->progressed);
}

static void
update_frames (Demo *demo)
{
  g_autofree char *text = NULL;
  Run *run = demo->run;

  if (run != NULL)
    text = g_strdup_printf ("frames %" G_GUINT64_FORMAT " · %.0f fps · longest gap between frames: "
                            "%.1f ms during the %s run, %.1f ms since the window opened",
                            demo->n_frames, demo->fps, run->max_gap_usec / 1000.0,
                            run->ended ? "last" : "current", demo->max_gap_usec / 1000.0);
  else
    text = g_strdup_printf ("frames %" G_GUINT64_FORMAT " · %.0f fps · longest gap between frames: "
                            "%.1f ms since the window opened",
                            demo->n_frames, demo->fps, demo->max_gap_usec / 1000.0);
  gtk_label_set_text (GTK_LABEL (demo->frames_label), text);
}

/* Called before every frame: measures the time since the previous one
 * (wall-clock time, not the frame clock's smoothed frame time) and
 * refreshes what changed.  The counts and the grid are redrawn at most
 * once per frame, however many task steps ran in between; the frame
 * statistics every few frames, or at once when a gap sets a record. */
static gboolean
on_tick (GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
  Demo *demo = data;
  gint64 now = g_get_monotonic_time ();
  gboolean record = FALSE;

  if (demo->last_tick_usec != 0)
    {
      gint64 gap = now - demo->last_tick_usec;

      /* The first frames of a window include its mapping: skip them. */
      if (demo->n_frames > 10 && gap > demo->max_gap_usec)
        {
          demo->max_gap_usec = gap;
          record = TRUE;
        }
      if (run_is_active (demo->run) && gap > demo->run->max_gap_usec)
        {
          demo->run->max_gap_usec = gap;
          record = TRUE;
        }
    }
  demo->last_tick_usec = now;
  demo->n_frames++;
  demo->fps_frames++;
  if (demo->fps_since_usec == 0)
    demo->fps_since_usec = now;
  else if (now - demo->fps_since_usec >= G_USEC_PER_SEC / 2)
    {
      demo->fps = demo->fps_frames * (double) G_USEC_PER_SEC / (now - demo->fps_since_usec);
      demo->fps_frames = 0;
      demo->fps_since_usec = now;
    }
  if (demo->shown != NULL && demo->n_frames == 10)
    coop_event_set (demo->shown);

  if (demo->dirty)
    {
      demo->dirty = FALSE;
      update_counts (demo);
      gtk_widget_queue_draw (demo->grid);
    }
  if (record || demo->n_frames % 8 == 0)
    update_frames (demo);
  return G_SOURCE_CONTINUE;
}

static void
set_cell_colour (cairo_t *cr, CellState state)
{
  switch (state)
    {
    case CELL_WAITING:   cairo_set_source_rgb (cr, 0.36, 0.36, 0.38); break;
    case CELL_RUNNING:   cairo_set_source_rgb (cr, 0.21, 0.52, 0.89); break;
    case CELL_FINISHED:  cairo_set_source_rgb (cr, 0.20, 0.82, 0.48); break;
    case CELL_CANCELLED: cairo_set_source_rgb (cr, 0.90, 0.38, 0.00); break;
    case CELL_FAILED:
    default:             cairo_set_source_rgb (cr, 0.88, 0.11, 0.14); break;
    }
}

/* One cell per task: its colour is the task's state, and a running task's
 * cell fills up from the bottom as its steps complete.  Hundreds of
 * rectangles cost far less than hundreds of widgets. */
static void
draw_grid (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  Demo *demo = data;
  Run *run = demo->run;
  guint cols, rows, i;
  double cell_w, cell_h, pad;

  cairo_set_source_rgb (cr, 0.12, 0.12, 0.14);
  cairo_paint (cr);
  if (run == NULL || run->n_tasks == 0 || width <= 0 || height <= 0)
    return;

  cols = MAX (1, (guint) ceil (sqrt ((double) run->n_tasks * width / height)));
  rows = (run->n_tasks + cols - 1) / cols;
  cell_w = (double) width / cols;
  cell_h = (double) height / rows;
  pad = MIN (cell_w, cell_h) > 8 ? 1.5 : 0.5;

  for (i = 0; i < run->n_tasks; i++)
    {
      Worker *worker = &run->workers[i];
      double x = (i % cols) * cell_w + pad;
      double y = (i / cols) * cell_h + pad;
      double w = cell_w - 2 * pad;
      double h = cell_h - 2 * pad;

      if (worker->state == CELL_RUNNING)
        {
          double filled = h * worker->step / MAX (1, worker->n_steps);

          cairo_set_source_rgb (cr, 0.20, 0.24, 0.32);
          cairo_rectangle (cr, x, y, w, h - filled);
          cairo_fill (cr);
          set_cell_colour (cr, CELL_RUNNING);
          cairo_rectangle (cr, x, y + h - filled, w, filled);
          cairo_fill (cr);
        }
      else
        {
          set_cell_colour (cr, worker->state);
          cairo_rectangle (cr, x, y, w, h);
          cairo_fill (cr);
        }
    }
}

static void
run_maybe_end (Run *run)
{
  Demo *demo = run->demo;
  g_autofree char *problem = NULL;

  if (run->ended || !run->supervisor_done || run->n_done < run->n_started)
    return;

  run->ended = TRUE;
  run->ended_usec = g_get_monotonic_time ();
  demo->dirty = TRUE;
  problem = run_check (run);
  g_print ("run of %u tasks ended after %.2f s: %u finished, %u cancelled (%u saw the cancellation "
           "in their function), %u failed; longest gap between frames %.1f ms%s%s\n",
           run->n_started, (run->ended_usec - run->started_usec) / (double) G_USEC_PER_SEC,
           run->n_finished, run->n_cancelled, run->n_cleaned_up, run->n_failed,
           run->max_gap_usec / 1000.0, problem ? "; INCONSISTENT: " : "", problem ? problem : "");
  if (problem != NULL)
    demo->exit_status = 1;

  gtk_spinner_stop (GTK_SPINNER (demo->spinner));
  update_controls (demo);
  if (demo->ended != NULL)
    coop_event_set (demo->ended);
  if (demo->quit_when_ended && demo->window != NULL)
    gtk_window_destroy (GTK_WINDOW (demo->window));
}

static void
on_start_clicked (GtkButton *button, gpointer data)
{
  Demo *demo = data;

  if (run_is_active (demo->run))
    return;
  g_clear_pointer (&demo->run, run_free);
  demo->n_tasks = gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (demo->tasks_spin));
  demo->run = run_new (demo, demo->n_tasks);
  demo->dirty = TRUE;
  gtk_spinner_start (GTK_SPINNER (demo->spinner));
  update_controls (demo);
}

static void
run_cancel (Run *run)
{
  if (!run_is_active (run) || run->cancel_requested)
    return;
  run->cancel_requested = TRUE;
  /* The supervisor is in coop_task_group_join(): its group cancels every
   * worker, and the supervisor ends once they have all cleaned up. */
  coop_task_cancel (run->supervisor, "Cancelled from the window");
  update_controls (run->demo);
}

static void
on_cancel_clicked (GtkButton *button, gpointer data)
{
  Demo *demo = data;

  run_cancel (demo->run);
}

/* Closing the window during a run cancels it and closes once every task
 * is done, so no task outlives the window it draws into. */
static gboolean
on_close_request (GtkWindow *window, gpointer data)
{
  Demo *demo = data;

  if (!run_is_active (demo->run))
    return FALSE;
  demo->quit_when_ended = TRUE;
  run_cancel (demo->run);
  return TRUE;
}

static GtkWidget *
legend_item (const char *colour, const char *text)
{
  g_autofree char *markup = g_strdup_printf ("<span foreground=\"%s\">■</span> %s", colour, text);
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_markup (GTK_LABEL (label), markup);
  return label;
}

static void
on_window_destroy (GtkWidget *window, gpointer data)
{
  Demo *demo = data;

  demo->window = NULL;
}

static void
build_window (Demo *demo)
{
  GtkWidget *header, *box, *row, *label, *legend;

  demo->window = gtk_application_window_new (demo->app);
  gtk_window_set_title (GTK_WINDOW (demo->window), "Coop tasks in GTK");
  gtk_window_set_default_size (GTK_WINDOW (demo->window), 900, 640);
  g_signal_connect (demo->window, "close-request", G_CALLBACK (on_close_request), demo);
  g_signal_connect (demo->window, "destroy", G_CALLBACK (on_window_destroy), demo);

  header = gtk_header_bar_new ();
  demo->spinner = gtk_spinner_new ();
  gtk_header_bar_pack_end (GTK_HEADER_BAR (header), demo->spinner);
  gtk_window_set_titlebar (GTK_WINDOW (demo->window), header);

  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 8);
  gtk_widget_set_margin_start (box, 12);
  gtk_widget_set_margin_end (box, 12);
  gtk_widget_set_margin_top (box, 12);
  gtk_widget_set_margin_bottom (box, 12);
  gtk_window_set_child (GTK_WINDOW (demo->window), box);

  row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
  gtk_box_append (GTK_BOX (box), row);
  label = gtk_label_new ("Tasks:");
  gtk_box_append (GTK_BOX (row), label);
  demo->tasks_spin = gtk_spin_button_new_with_range (1, 20000, 50);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (demo->tasks_spin), demo->n_tasks);
  gtk_box_append (GTK_BOX (row), demo->tasks_spin);
  demo->start_button = gtk_button_new_with_mnemonic ("_Start");
  gtk_widget_add_css_class (demo->start_button, "suggested-action");
  g_signal_connect (demo->start_button, "clicked", G_CALLBACK (on_start_clicked), demo);
  gtk_box_append (GTK_BOX (row), demo->start_button);
  demo->cancel_button = gtk_button_new_with_mnemonic ("_Cancel");
  gtk_widget_add_css_class (demo->cancel_button, "destructive-action");
  g_signal_connect (demo->cancel_button, "clicked", G_CALLBACK (on_cancel_clicked), demo);
  gtk_box_append (GTK_BOX (row), demo->cancel_button);

  demo->progress = gtk_progress_bar_new ();
  gtk_progress_bar_set_show_text (GTK_PROGRESS_BAR (demo->progress), TRUE);
  gtk_box_append (GTK_BOX (box), demo->progress);

  demo->counts_label = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (demo->counts_label), 0);
  gtk_box_append (GTK_BOX (box), demo->counts_label);

  demo->frames_label = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (demo->frames_label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (demo->frames_label), PANGO_ELLIPSIZE_END);
  gtk_box_append (GTK_BOX (box), demo->frames_label);

  demo->grid = gtk_drawing_area_new ();
  gtk_widget_set_vexpand (demo->grid, TRUE);
  gtk_widget_set_hexpand (demo->grid, TRUE);
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (demo->grid), draw_grid, demo, NULL);
  gtk_box_append (GTK_BOX (box), demo->grid);

  legend = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 16);
  gtk_box_append (GTK_BOX (legend), legend_item ("#5c5c61", "waiting"));
  gtk_box_append (GTK_BOX (legend), legend_item ("#3584e4", "running (fills up with its steps)"));
  gtk_box_append (GTK_BOX (legend), legend_item ("#33d17a", "finished"));
  gtk_box_append (GTK_BOX (legend), legend_item ("#e66100", "cancelled"));
  gtk_box_append (GTK_BOX (legend), legend_item ("#e01b24", "failed"));
  gtk_box_append (GTK_BOX (box), legend);

  gtk_widget_add_tick_callback (demo->window, on_tick, demo, NULL);
  update_counts (demo);
  update_controls (demo);
  update_frames (demo);
}

/* --- self-driving mode ----------------------------------------------------------- */

/* The test driver, a C task like the others: it presses the buttons the
 * way a user would (gtk_widget_activate) and awaits what they cause, all
 * under one deadline. */
static void
drive (CoopTask *task, gpointer data)
{
  Demo *demo = data;
  g_autoptr(CoopTimeout) limit = coop_timeout_enter (demo->autotest_timeout_usec, NULL);
  g_autoptr(CoopFuture) shown = coop_event_wait (demo->shown);
  g_autoptr(CoopFuture) progressed = NULL;
  g_autoptr(CoopFuture) settle = NULL;
  g_autoptr(CoopFuture) go_on = NULL;
  g_autoptr(CoopFuture) ended = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *problem = NULL;
  GList *tasks;
  Run *run;

  if (!coop_await (shown, &error))
    goto out;

  gtk_widget_activate (demo->start_button);
  progressed = coop_event_wait (demo->progressed);
  if (!coop_await (progressed, &error))
    goto out;
  run = demo->run;
  /* A few more frames, so that the screen shows what the counts say. */
  settle = coop_sleep (demo->loop, 100 * G_TIME_SPAN_MILLISECOND);
  if (!coop_await (settle, &error))
    goto out;

  /* Watch SIGUSR1 before saying READY: the harness answers with it. */
  go_on = coop_unix_signal_wait (demo->loop, SIGUSR1);
  g_print ("READY\n");
  fflush (stdout);
  if (!coop_await (go_on, &error))
    goto out;
  g_print ("continuing: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " steps done, %u finished, "
           "%u running\n",
           run->steps_done, run->steps_total, run->n_finished, run->n_running);

  if (demo->autotest_close)
    {
      /* As a user closing the window in the middle of the run: the window
       * cancels the run and goes away once every task is done. */
      g_print ("closing the window\n");
      gtk_window_close (GTK_WINDOW (demo->window));
    }
  else
    gtk_widget_activate (demo->cancel_button);
  ended = coop_event_wait (demo->ended);
  if (!coop_await (ended, &error))
    goto out;

  /* Only the driver itself may still be a live task. */
  tasks = coop_loop_list_tasks (demo->loop);
  if (tasks != NULL && (tasks->next != NULL || tasks->data != task))
    problem = g_strdup_printf ("%u tasks still live after the run ended", g_list_length (tasks));
  g_list_free_full (tasks, g_object_unref);

  if (problem != NULL)
    ;
  else if (!run->cancel_requested)
    problem = g_strdup ("the run was not cancelled");
  else if (demo->autotest_close && demo->window != NULL)
    problem = g_strdup ("the window is still there after the run ended");
  else if (run->n_cancelled == 0)
    problem = g_strdup ("Cancel was pressed but no task ended cancelled");
  else if (run->n_finished == 0)
    problem = g_strdup ("no task finished before Cancel was pressed");
  else if (run->n_cleaned_up == 0)
    problem = g_strdup ("no task saw G_IO_ERROR_CANCELLED in its function");
  else
    problem = run_check (run);
  if (problem != NULL)
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", problem);

out:
  /* A deadline that passed turns the cancellation into TIMED_OUT. */
  if (!coop_timeout_exit (limit, &error))
    coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
}

static void
driver_done (CoopFuture *future, gpointer data)
{
  Demo *demo = data;
  const GError *error = coop_future_get_error (future);

  if (error != NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        g_printerr ("autotest: timed out after %" G_GINT64_FORMAT " s\n",
                    demo->autotest_timeout_usec / G_USEC_PER_SEC);
      else
        g_printerr ("autotest: %s\n", error->message);
      demo->exit_status = 1;
    }
  else
    g_print ("autotest: passed\n");
  demo->driver_reported = TRUE;
  /* Closing the window cancels a run that is still going; the
   * application quits once the window is gone. */
  if (demo->window != NULL)
    gtk_window_close (GTK_WINDOW (demo->window));
  g_application_release (G_APPLICATION (demo->app));
}

/* --- the application ----------------------------------------------------------------- */

static void
on_activate (GApplication *app, gpointer data)
{
  Demo *demo = data;

  if (demo->window != NULL)
    {
      gtk_window_present (GTK_WINDOW (demo->window));
      return;
    }
  build_window (demo);
  gtk_window_present (GTK_WINDOW (demo->window));
  gtk_widget_grab_focus (demo->start_button);

  if (demo->autotest)
    {
      demo->shown = coop_event_new (demo->loop);
      demo->progressed = coop_event_new (demo->loop);
      demo->ended = coop_event_new (demo->loop);
      demo->driver = coop_task_new_full (demo->loop, "autotest", 512 * 1024, drive, demo, NULL);
      coop_future_add_done_callback (COOP_FUTURE (demo->driver), driver_done, demo, NULL);
      /* The application stays up until the driver has reported, even if
       * the window goes away first. */
      g_application_hold (app);
    }
}

/* The main loop has stopped.  One call ends Coop's part, as asyncio.run()
 * ends: every task is cancelled (the run's supervisor and workers, the
 * self-test driver) and the loop runs until they have cleaned up, five
 * seconds at most; then the thread pool is let go and the loop closed,
 * which releases its sources and pooled futures.  Tasks still pending at
 * the deadline would be abandoned, with one warning naming them. */
static void
on_shutdown (GApplication *app, gpointer data)
{
  Demo *demo = data;
  g_autoptr(GError) error = NULL;

  if (!coop_loop_shutdown (demo->loop, SHUTDOWN_LIMIT_USEC, &error))
    {
      g_printerr ("tasks still running at shutdown: %s\n", error->message);
      demo->exit_status = 1;
    }
  demo->loop = NULL;
  if (demo->run != NULL && demo->run->ended)
    g_clear_pointer (&demo->run, run_free);
  g_clear_object (&demo->driver);
  g_clear_object (&demo->shown);
  g_clear_object (&demo->progressed);
  g_clear_object (&demo->ended);
}

/* Reads a numeric option.  The options are strings because GApplication
 * cannot tell an integer option set to 0 from one that was not given. */
static gboolean
option_uint (GVariantDict *options, const char *name, guint min, guint max, guint *value)
{
  const char *text;
  guint64 n;

  if (!g_variant_dict_lookup (options, name, "&s", &text))
    return TRUE;
  if (!g_ascii_string_to_unsigned (text, 10, min, max, &n, NULL))
    {
      g_printerr ("--%s must be a number from %u to %u\n", name, min, max);
      return FALSE;
    }
  *value = (guint) n;
  return TRUE;
}

static int
on_handle_local_options (GApplication *app, GVariantDict *options, gpointer data)
{
  Demo *demo = data;

  if (!option_uint (options, "tasks", 1, 20000, &demo->n_tasks) ||
      !option_uint (options, "cpu-usec", 0, 100000, &demo->cpu_usec))
    return 2;
  if (g_variant_dict_contains (options, "autotest"))
    demo->autotest = TRUE;
  return -1;
}

static guint
env_uint (const char *name, guint fallback)
{
  const char *value = g_getenv (name);
  guint64 n;

  if (value == NULL || !g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT, &n, NULL))
    return fallback;
  return (guint) n;
}

int
main (int argc, char **argv)
{
  static const GOptionEntry entries[] = {
    { "tasks", 'n', 0, G_OPTION_ARG_STRING, NULL, "How many tasks Start runs (default 300)", "N" },
    { "cpu-usec", 0, 0, G_OPTION_ARG_STRING, NULL, "Microseconds of CPU work per step (default 100)", "USEC" },
    { "autotest", 0, 0, G_OPTION_ARG_NONE, NULL, "Drive the window by itself (see COOP_GTK_AUTOTEST)", NULL },
    { NULL }
  };
  Demo demo = { 0 };
  const char *autotest = g_getenv ("COOP_GTK_AUTOTEST");
  int status;

  demo.n_tasks = CLAMP (env_uint ("COOP_GTK_DEMO_TASKS", DEFAULT_TASKS), 1, 20000);
  demo.cpu_usec = MIN (env_uint ("COOP_GTK_DEMO_CPU_USEC", DEFAULT_CPU_USEC), 100000);
  demo.autotest = (autotest != NULL && g_strcmp0 (autotest, "0") != 0) ||
                  g_getenv ("COOP_GTK_DEMO_AUTOTEST") != NULL;
  demo.autotest_timeout_usec = (gint64) env_uint ("COOP_GTK_AUTOTEST_TIMEOUT", 60) * G_USEC_PER_SEC;
  demo.autotest_close = g_getenv ("COOP_GTK_DEMO_AUTOTEST_CLOSE") != NULL;
  demo.autotest_goal = CLAMP (env_uint ("COOP_GTK_DEMO_READY_AT", AUTOTEST_GOAL), 1, 99);

  /* GTK iterates the default main context; this is that context's loop. */
  demo.loop = coop_loop_get_default ();

  demo.app = gtk_application_new (APP_ID, G_APPLICATION_NON_UNIQUE);
  g_application_add_main_option_entries (G_APPLICATION (demo.app), entries);
  g_signal_connect (demo.app, "handle-local-options", G_CALLBACK (on_handle_local_options), &demo);
  g_signal_connect (demo.app, "activate", G_CALLBACK (on_activate), &demo);
  g_signal_connect (demo.app, "shutdown", G_CALLBACK (on_shutdown), &demo);

  status = g_application_run (G_APPLICATION (demo.app), argc, argv);
  g_object_unref (demo.app);
  if (demo.loop != NULL)   /* never activated (--help, a bad option) */
    coop_loop_close (demo.loop);
  return status != 0 ? status : demo.exit_status;
}
