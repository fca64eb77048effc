/* coop-pool-mandelbrot.c: CPU-bound tasks on a CoopLoopPool while the main
 * loop stays responsive.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Renders the Mandelbrot set in horizontal tiles, once on a pool of one
 * worker loop and once on a pool of N (default: one per processor).  Each
 * tile is a C task on a worker; a task on the main loop spawns them all and
 * awaits their futures.  Meanwhile a timer on the main loop ticks every
 * 10 ms and measures how late each tick is: the main loop never computes,
 * so it stays on time however busy the workers are.
 *
 *   coop-pool-mandelbrot [--width W] [--height H] [--rows R] [--loops N]
 *                        [--iterations I] [--output FILE.pgm]
 *
 * Prints the time of each run, the speed-up, the ticks' lateness and a
 * checksum; exits 1 if the two runs disagree.
 */
#include <coop.h>

#include <stdio.h>
#include <string.h>

static int width = 1200;
static int height = 800;
static int rows_per_tile = 8;
static int n_loops = 0;
static int max_iterations = 2000;
static char *output;

typedef struct
{
  guint8 *pixels;
  int     first_row;
  int     n_rows;
} Tile;

/* One tile: runs on a worker's thread; the sum of iterations is its
 * result, the pixels go straight into the image (each tile owns its rows;
 * the main loop reads them only after the tile's future is done). */
static void
tile_body (CoopTask *task,
           gpointer  data)
{
  Tile *tile = data;
  gint64 sum = 0;
  int x, y;

  for (y = tile->first_row; y < tile->first_row + tile->n_rows; y++)
    for (x = 0; x < width; x++)
      {
        double cr = -2.2 + 3.2 * x / width, ci = -1.2 + 2.4 * y / height;
        double zr = 0, zi = 0;
        int i;

        for (i = 0; i < max_iterations && zr * zr + zi * zi <= 4.0; i++)
          {
            double t = zr * zr - zi * zi + cr;

            zi = 2 * zr * zi + ci;
            zr = t;
          }
        sum += i;
        tile->pixels[(gsize) y * width + x] = i >= max_iterations ? 0 : (guint8) (255 - (i * 8) % 256);
      }
  coop_future_set_int64 (COOP_FUTURE (task), sum);
}

typedef struct
{
  CoopLoopPool *pool;
  guint8       *pixels;
  gint64        checksum;
} Render;

static void
render_body (CoopTask *task,
             gpointer  data)
{
  Render *render = data;
  int n_tiles = (height + rows_per_tile - 1) / rows_per_tile;
  g_autofree Tile *tiles = g_new (Tile, n_tiles);
  g_autoptr(GPtrArray) futures = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  int i;

  for (i = 0; i < n_tiles; i++)
    {
      tiles[i] = (Tile) { render->pixels, i * rows_per_tile, MIN (rows_per_tile, height - i * rows_per_tile) };
      g_ptr_array_add (futures, coop_loop_pool_spawn (render->pool, NULL, "tile", tile_body,
                                                      &tiles[i], NULL));
    }
  render->checksum = 0;
  for (i = 0; i < n_tiles; i++)
    {
      if (!coop_await (futures->pdata[i], &error))
        {
          coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
          return;
        }
      render->checksum += coop_future_get_int64 (futures->pdata[i], NULL);
    }
}

/* The main loop's heartbeat: how late is each tick? */
typedef struct
{
  CoopLoop   *loop;
  CoopHandle *next;      /* the pending tick */
  gint64      due;
  guint       ticks;
  gint64      max_late;
  gint64      total_late;
} Ticker;

static void
tick (gpointer data)
{
  Ticker *ticker = data;
  gint64 late = MAX (0, coop_loop_time (ticker->loop) - ticker->due);

  ticker->ticks++;
  ticker->max_late = MAX (ticker->max_late, late);
  ticker->total_late += late;
  coop_handle_unref (ticker->next);
  ticker->due = coop_loop_time (ticker->loop) + 10000;
  ticker->next = coop_loop_call_at (ticker->loop, ticker->due, tick, ticker, NULL);
}

/* Renders once on a pool of @loops workers; returns the seconds taken. */
static double
run (CoopLoop *loop,
     guint     loops,
     guint8   *pixels,
     gint64   *checksum)
{
  Render render = { coop_loop_pool_new (loops), pixels, 0 };
  Ticker ticker = { .loop = loop, .due = coop_loop_time (loop) + 10000 };
  g_autoptr(CoopTask) task = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  double seconds;

  ticker.next = coop_loop_call_at (loop, ticker.due, tick, &ticker, NULL);
  task = coop_task_new (loop, render_body, &render, NULL);
  if (!coop_loop_run_until_complete (loop, COOP_FUTURE (task), &error))
    g_error ("render failed: %s", error->message);
  seconds = (g_get_monotonic_time () - start) / 1e6;
  /* At least one tick, then no more. */
  while (!ticker.ticks)
    g_main_context_iteration (coop_loop_get_context (loop), TRUE);
  coop_handle_cancel (ticker.next);
  coop_handle_unref (ticker.next);
  coop_loop_pool_shutdown (render.pool, -1, NULL);
  g_object_unref (render.pool);

  printf ("%2u loop(s): %.3f s; main loop: %u ticks of 10 ms, lateness max %.1f ms, mean %.2f ms\n",
          loops, seconds, ticker.ticks, ticker.max_late / 1000.0,
          ticker.ticks ? ticker.total_late / 1000.0 / ticker.ticks : 0.0);
  *checksum = render.checksum;
  return seconds;
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "width", 0, 0, G_OPTION_ARG_INT, &width, "Image width", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &height, "Image height", "H" },
    { "rows", 0, 0, G_OPTION_ARG_INT, &rows_per_tile, "Rows per tile (one task each)", "R" },
    { "loops", 0, 0, G_OPTION_ARG_INT, &n_loops, "Worker loops (0: one per processor)", "N" },
    { "iterations", 0, 0, G_OPTION_ARG_INT, &max_iterations, "Iterations per pixel", "I" },
    { "output", 0, 0, G_OPTION_ARG_FILENAME, &output, "Write the image as a PGM file", "FILE" },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("- Mandelbrot on a pool of loops");
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *one = NULL, *many = NULL;
  CoopLoop *loop;
  gint64 sum_one, sum_many;
  double t_one, t_many;
  guint loops;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (width < 1 || height < 1 || rows_per_tile < 1 || max_iterations < 1 || n_loops < 0)
    {
      g_printerr ("sizes must be positive\n");
      return 2;
    }
  loops = n_loops > 0 ? (guint) n_loops : MAX (1, g_get_num_processors ());
  one = g_malloc ((gsize) width * height);
  many = g_malloc ((gsize) width * height);

  loop = coop_loop_get_default ();
  printf ("%dx%d, %d iterations, %d tiles\n", width, height, max_iterations,
          (height + rows_per_tile - 1) / rows_per_tile);
  t_one = run (loop, 1, one, &sum_one);
  t_many = run (loop, loops, many, &sum_many);
  printf ("speed-up with %u loops: %.2fx\n", loops, t_one / t_many);
  printf ("checksum: %" G_GINT64_FORMAT " / %" G_GINT64_FORMAT "\n", sum_one, sum_many);

  if (output != NULL)
    {
      g_autofree char *header = g_strdup_printf ("P5\n%d %d\n255\n", width, height);
      g_autoptr(GByteArray) file = g_byte_array_new ();

      g_byte_array_append (file, (guint8 *) header, strlen (header));
      g_byte_array_append (file, many, (guint) width * height);
      if (!g_file_set_contents (output, (char *) file->data, file->len, &error))
        g_printerr ("%s\n", error->message);
    }
  coop_loop_shutdown (loop, -1, NULL);
  if (sum_one != sum_many || memcmp (one, many, (gsize) width * height) != 0)
    {
      g_printerr ("the two renders differ\n");
      return 1;
    }
  return 0;
}
