/* coop-gio-file.c: GFile's asynchronous calls as futures.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-gio-private.h"

/* Each wrapper makes one GIO _async call with the future of
 * coop_gio_op_new() (see coop-gio-private.h): the future holds itself
 * until GIO calls back, its cancellable is the call's, and a caller's
 * GCancellable cancels the future.  The _finish functions with out
 * arguments have a hook of their own here. */

#define CHECK_COMMON(loop, cancellable)                                                   \
  g_return_val_if_fail (COOP_IS_LOOP (loop), NULL);                                       \
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL)

/* --- contents ---------------------------------------------------------------------- */

static gboolean
load_contents_finish (GObject       *source,
                      GAsyncResult  *result,
                      gpointer       data,
                      GValue        *value,
                      GError       **error)
{
  GBytes *bytes = g_file_load_bytes_finish (G_FILE (source), result, NULL, error);

  if (bytes == NULL)
    return FALSE;
  g_value_init (value, G_TYPE_BYTES);
  g_value_take_boxed (value, bytes);
  return TRUE;
}

/**
 * coop_file_load_contents:
 * @loop: the loop of the future
 * @file: the file to read
 * @cancellable: (nullable): cancels the future (and the read)
 *
 * Reads the whole of @file, as g_file_load_bytes_async() does.
 *
 * ```c
 * g_autoptr(CoopFuture) f = coop_file_load_contents (loop, file, NULL);
 * if (coop_await (f, &error))
 *   use (coop_future_get_bytes (f, NULL));
 * ```
 *
 * Like every GIO wrapper of Coop, this makes the GIO call at once, in the
 * loop's #GMainContext, and returns its future: await it in a task, or
 * wait for it from any code with [method@Coop.Future.wait_async] or
 * [method@Coop.Future.then].  The future holds itself until GIO has
 * called back, so it may be dropped.  Cancelling the future, or
 * @cancellable, cancels the GIO call; the future ends
 * %COOP_FUTURE_STATE_CANCELLED once GIO has called back.
 *
 * Returns: (transfer full): a future that finishes with the contents, a
 *   #GBytes ([method@Coop.Future.get_bytes]), or fails with GIO's error
 */
CoopFuture *
coop_file_load_contents (CoopLoop     *loop,
                         GFile        *file,
                         GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  op = coop_gio_op_new_hook (loop, cancellable, load_contents_finish, NULL, NULL);
  g_file_load_bytes_async (file, coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

static gboolean
replace_contents_finish (GObject       *source,
                         GAsyncResult  *result,
                         gpointer       data,
                         GValue        *value,
                         GError       **error)
{
  char *etag = NULL;

  if (!g_file_replace_contents_finish (G_FILE (source), result, &etag, error))
    return FALSE;
  g_value_init (value, G_TYPE_STRING);
  g_value_take_string (value, etag);
  return TRUE;
}

/**
 * coop_file_replace_contents:
 * @loop: the loop of the future
 * @file: the file to write
 * @contents: what @file will contain
 * @etag: (nullable): the entity tag @file must still have, or %NULL
 * @make_backup: whether to keep a backup of the current contents
 * @flags: how to create the new file
 * @cancellable: (nullable): cancels the future (and the write)
 *
 * Replaces the contents of @file (safely: in a temporary file renamed
 * over it), as g_file_replace_contents_bytes_async() does.  The future
 * keeps a reference on @contents until the write is done.
 *
 * See [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with the new entity
 *   tag of @file, a string ([method@Coop.Future.get_string], possibly
 *   %NULL), or fails with GIO's error
 */
CoopFuture *
coop_file_replace_contents (CoopLoop         *loop,
                            GFile            *file,
                            GBytes           *contents,
                            const char       *etag,
                            gboolean          make_backup,
                            GFileCreateFlags  flags,
                            GCancellable     *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);
  g_return_val_if_fail (contents != NULL, NULL);

  op = coop_gio_op_new_hook (loop, cancellable, replace_contents_finish, NULL, NULL);
  g_file_replace_contents_bytes_async (file, contents, etag, make_backup, flags,
                                       coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/* --- streams ----------------------------------------------------------------------- */

/**
 * coop_file_read:
 * @loop: the loop of the future
 * @file: the file to open
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Opens @file for reading, as g_file_read_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with a
 *   #GFileInputStream ([method@Coop.Future.get_input_stream]), or fails
 *   with GIO's error
 */
CoopFuture *
coop_file_read (CoopLoop     *loop,
                GFile        *file,
                int           io_priority,
                GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_FILE_INPUT_STREAM, G_CALLBACK (g_file_read_finish));
  g_file_read_async (file, io_priority, coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_file_create:
 * @loop: the loop of the future
 * @file: the file to create; it must not exist
 * @flags: how to create it
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Creates @file and opens it for writing, as g_file_create_async() does
 * (`G_IO_ERROR_EXISTS` if it exists).  See [func@Coop.file_load_contents]
 * for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with a
 *   #GFileOutputStream ([method@Coop.Future.get_output_stream]), or fails
 *   with GIO's error
 */
CoopFuture *
coop_file_create (CoopLoop         *loop,
                  GFile            *file,
                  GFileCreateFlags  flags,
                  int               io_priority,
                  GCancellable     *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_FILE_OUTPUT_STREAM, G_CALLBACK (g_file_create_finish));
  g_file_create_async (file, flags, io_priority, coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_file_append_to:
 * @loop: the loop of the future
 * @file: the file to append to, created if needed
 * @flags: how to create it
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Opens @file for appending, as g_file_append_to_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with a
 *   #GFileOutputStream ([method@Coop.Future.get_output_stream]), or fails
 *   with GIO's error
 */
CoopFuture *
coop_file_append_to (CoopLoop         *loop,
                     GFile            *file,
                     GFileCreateFlags  flags,
                     int               io_priority,
                     GCancellable     *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_FILE_OUTPUT_STREAM, G_CALLBACK (g_file_append_to_finish));
  g_file_append_to_async (file, flags, io_priority, coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_file_replace:
 * @loop: the loop of the future
 * @file: the file to replace, created if needed
 * @etag: (nullable): the entity tag @file must still have, or %NULL
 * @make_backup: whether to keep a backup of the current contents
 * @flags: how to create the new file
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Opens a stream that replaces @file once closed, as
 * g_file_replace_async() does.  See [func@Coop.file_load_contents] for
 * how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with a
 *   #GFileOutputStream ([method@Coop.Future.get_output_stream]), or fails
 *   with GIO's error
 */
CoopFuture *
coop_file_replace (CoopLoop         *loop,
                   GFile            *file,
                   const char       *etag,
                   gboolean          make_backup,
                   GFileCreateFlags  flags,
                   int               io_priority,
                   GCancellable     *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_FILE_OUTPUT_STREAM, G_CALLBACK (g_file_replace_finish));
  g_file_replace_async (file, etag, make_backup, flags, io_priority,
                        coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/* --- information ------------------------------------------------------------------- */

/**
 * coop_file_query_info:
 * @loop: the loop of the future
 * @file: a file
 * @attributes: the attributes to get, such as `"standard::*"`
 * @flags: whether to follow symbolic links
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Gets information about @file, as g_file_query_info_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with a #GFileInfo
 *   ([method@Coop.Future.get_file_info]), or fails with GIO's error
 */
CoopFuture *
coop_file_query_info (CoopLoop            *loop,
                      GFile               *file,
                      const char          *attributes,
                      GFileQueryInfoFlags  flags,
                      int                  io_priority,
                      GCancellable        *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);
  g_return_val_if_fail (attributes != NULL, NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_FILE_INFO, G_CALLBACK (g_file_query_info_finish));
  g_file_query_info_async (file, attributes, flags, io_priority,
                           coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

static gboolean
query_exists_finish (GObject       *source,
                     GAsyncResult  *result,
                     gpointer       data,
                     GValue        *value,
                     GError       **error)
{
  GError *local = NULL;
  GFileInfo *info = g_file_query_info_finish (G_FILE (source), result, &local);
  gboolean exists = info != NULL;

  g_clear_object (&info);
  if (local != NULL &&
      !g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) &&
      !g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY))
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  g_clear_error (&local);
  g_value_init (value, G_TYPE_BOOLEAN);
  g_value_set_boolean (value, exists);
  return TRUE;
}

/**
 * coop_file_query_exists:
 * @loop: the loop of the future
 * @file: a file
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Finds out whether @file exists, without blocking: GIO's
 * g_file_query_exists() is synchronous, so this asks for its type with
 * g_file_query_info_async() (not following symbolic links, so a dangling
 * link exists).
 *
 * Unlike g_file_query_exists(), which says %FALSE for any error, only
 * "not found" (`G_IO_ERROR_NOT_FOUND`, or `G_IO_ERROR_NOT_DIRECTORY` when
 * a parent is not a directory) means %FALSE: any other error, such as
 * `G_IO_ERROR_PERMISSION_DENIED`, fails the future, since the answer is
 * not known.
 *
 * Returns: (transfer full): a future that finishes with a boolean
 *   ([method@Coop.Future.get_boolean]), or fails with GIO's error
 */
CoopFuture *
coop_file_query_exists (CoopLoop     *loop,
                        GFile        *file,
                        GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  op = coop_gio_op_new_hook (loop, cancellable, query_exists_finish, NULL, NULL);
  g_file_query_info_async (file, G_FILE_ATTRIBUTE_STANDARD_TYPE, G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS,
                           G_PRIORITY_DEFAULT, coop_gio_op_cancellable (op),
                           coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/* --- directories ------------------------------------------------------------------- */

/**
 * coop_file_enumerate_children:
 * @loop: the loop of the future
 * @file: a directory
 * @attributes: the attributes to get for each child, such as
 *   `"standard::name"`
 * @flags: whether to follow symbolic links
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Opens @file for listing, as g_file_enumerate_children_async() does;
 * read the children in batches with
 * [func@Coop.file_enumerator_next_files].  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with a
 *   #GFileEnumerator ([method@Coop.Future.get_file_enumerator]), or fails
 *   with GIO's error
 */
CoopFuture *
coop_file_enumerate_children (CoopLoop            *loop,
                              GFile               *file,
                              const char          *attributes,
                              GFileQueryInfoFlags  flags,
                              int                  io_priority,
                              GCancellable        *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);
  g_return_val_if_fail (attributes != NULL, NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_FILE_ENUMERATOR,
                        G_CALLBACK (g_file_enumerate_children_finish));
  g_file_enumerate_children_async (file, attributes, flags, io_priority,
                                   coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

static gboolean
next_files_finish (GObject       *source,
                   GAsyncResult  *result,
                   gpointer       data,
                   GValue        *value,
                   GError       **error)
{
  GError *local = NULL;
  GList *infos = g_file_enumerator_next_files_finish (G_FILE_ENUMERATOR (source), result, &local);
  GPtrArray *array;

  if (local != NULL)
    {
      g_list_free_full (infos, g_object_unref);
      g_propagate_error (error, local);
      return FALSE;
    }
  array = g_ptr_array_new_with_free_func (g_object_unref);
  for (GList *l = infos; l != NULL; l = l->next)
    g_ptr_array_add (array, l->data);   /* the list's reference */
  g_list_free (infos);
  g_value_init (value, G_TYPE_PTR_ARRAY);
  g_value_take_boxed (value, array);
  return TRUE;
}

/**
 * coop_file_enumerator_next_files:
 * @loop: the loop of the future
 * @enumerator: an enumerator, from [func@Coop.file_enumerate_children]
 * @num_files: how many children to read at most, at least 1
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Reads the next batch of children, as
 * g_file_enumerator_next_files_async() does.  An empty batch means the
 * listing is over.  See [func@Coop.file_load_contents] for how the GIO
 * wrappers work.
 *
 * Returns: (transfer full): a future that finishes with a #GPtrArray of
 *   #GFileInfo ([method@Coop.Future.get_file_infos]), or fails with GIO's
 *   error
 */
CoopFuture *
coop_file_enumerator_next_files (CoopLoop        *loop,
                                 GFileEnumerator *enumerator,
                                 int              num_files,
                                 int              io_priority,
                                 GCancellable    *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE_ENUMERATOR (enumerator), NULL);
  g_return_val_if_fail (num_files > 0, NULL);

  op = coop_gio_op_new_hook (loop, cancellable, next_files_finish, NULL, NULL);
  g_file_enumerator_next_files_async (enumerator, num_files, io_priority,
                                      coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_file_enumerator_close:
 * @loop: the loop of the future
 * @enumerator: an enumerator
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Closes @enumerator, as g_file_enumerator_close_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with %TRUE, or fails
 *   with GIO's error
 */
CoopFuture *
coop_file_enumerator_close (CoopLoop        *loop,
                            GFileEnumerator *enumerator,
                            int              io_priority,
                            GCancellable    *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE_ENUMERATOR (enumerator), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_BOOLEAN, G_CALLBACK (g_file_enumerator_close_finish));
  g_file_enumerator_close_async (enumerator, io_priority, coop_gio_op_cancellable (op),
                                 coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_file_make_directory:
 * @loop: the loop of the future
 * @file: the directory to create
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Creates a directory, as g_file_make_directory_async() does
 * (`G_IO_ERROR_EXISTS` if it exists, `G_IO_ERROR_NOT_FOUND` if its parent
 * does not).  See [func@Coop.file_load_contents] for how the GIO wrappers
 * work.
 *
 * Returns: (transfer full): a future that finishes with %TRUE, or fails
 *   with GIO's error
 */
CoopFuture *
coop_file_make_directory (CoopLoop     *loop,
                          GFile        *file,
                          int           io_priority,
                          GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_BOOLEAN, G_CALLBACK (g_file_make_directory_finish));
  g_file_make_directory_async (file, io_priority, coop_gio_op_cancellable (op),
                               coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/* GIO has no asynchronous make_directory_with_parents: a task climbs up to
 * the first ancestor that exists, then creates the missing ones downwards,
 * one awaited make_directory each (so cancelling it cancels the one in
 * flight). */
typedef struct
{
  GFile *file;
  int    io_priority;
} MakeParents;

static void
make_parents_free (gpointer data)
{
  MakeParents *mp = data;

  g_object_unref (mp->file);
  g_free (mp);
}

static void
make_parents_body (CoopTask *task,
                   gpointer  data)
{
  MakeParents *mp = data;
  CoopLoop *loop = coop_future_get_loop (COOP_FUTURE (task));
  g_autoptr(GPtrArray) todo = g_ptr_array_new_with_free_func (g_object_unref);

  g_ptr_array_add (todo, g_object_ref (mp->file));
  while (todo->len > 0)
    {
      GFile *dir = todo->pdata[todo->len - 1];
      g_autoptr(CoopFuture) made = coop_file_make_directory (loop, dir, mp->io_priority, NULL);
      g_autoptr(GError) error = NULL;
      GFile *parent;

      if (coop_await (made, &error) ||
          /* An ancestor made meanwhile by someone else is as good. */
          (todo->len > 1 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS)))
        {
          g_ptr_array_set_size (todo, todo->len - 1);
          continue;
        }
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
          (parent = g_file_get_parent (dir)) == NULL)
        {
          coop_future_take_error (COOP_FUTURE (task), g_steal_pointer (&error));
          return;
        }
      g_ptr_array_add (todo, parent);
    }
  coop_future_set_boolean (COOP_FUTURE (task), TRUE);
}

/**
 * coop_file_make_directory_with_parents:
 * @loop: the loop of the future
 * @file: the directory to create
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call in flight)
 *
 * Creates a directory and its missing parents, as
 * g_file_make_directory_with_parents() does, without blocking: GIO has no
 * asynchronous version, so a task (a [class@Coop.Task], the future
 * returned) makes one [func@Coop.file_make_directory] call per missing
 * directory.  Fails with `G_IO_ERROR_EXISTS` if @file exists already.
 *
 * Returns: (transfer full): a future that finishes with %TRUE, or fails
 *   with GIO's error
 */
CoopFuture *
coop_file_make_directory_with_parents (CoopLoop     *loop,
                                       GFile        *file,
                                       int           io_priority,
                                       GCancellable *cancellable)
{
  MakeParents *mp;
  CoopTask *task;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  mp = g_new (MakeParents, 1);
  mp->file = g_object_ref (file);
  mp->io_priority = io_priority;
  task = coop_task_new_full (loop, "coop_file_make_directory_with_parents", 0,
                             make_parents_body, mp, make_parents_free);
  if (cancellable != NULL)
    coop_task_bind_cancellable (task, cancellable);
  return COOP_FUTURE (task);
}

/* --- delete, trash, copy, move ----------------------------------------------------- */

/**
 * coop_file_delete:
 * @loop: the loop of the future
 * @file: the file or empty directory to delete
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Deletes @file, as g_file_delete_async() does.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with %TRUE, or fails
 *   with GIO's error
 */
CoopFuture *
coop_file_delete (CoopLoop     *loop,
                  GFile        *file,
                  int           io_priority,
                  GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_BOOLEAN, G_CALLBACK (g_file_delete_finish));
  g_file_delete_async (file, io_priority, coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_file_trash:
 * @loop: the loop of the future
 * @file: the file to move to the trash
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @cancellable: (nullable): cancels the future (and the call)
 *
 * Moves @file to the user's trash, as g_file_trash_async() does
 * (`G_IO_ERROR_NOT_SUPPORTED` where there is no trash for it).  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with %TRUE, or fails
 *   with GIO's error
 */
CoopFuture *
coop_file_trash (CoopLoop     *loop,
                 GFile        *file,
                 int           io_priority,
                 GCancellable *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  op = coop_gio_op_new (loop, cancellable, G_TYPE_BOOLEAN, G_CALLBACK (g_file_trash_finish));
  g_file_trash_async (file, io_priority, coop_gio_op_cancellable (op), coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/* GIO calls the progress callback in the context of the _async call (the
 * loop's) and has no destroy notify for its data: the hook data carries
 * the caller's notify, called once the operation is over. */
typedef struct
{
  gboolean       (*finish) (GFile *, GAsyncResult *, GError **);
  gpointer         progress_data;
  GDestroyNotify   progress_notify;
} Transfer;

static void
transfer_free (gpointer data)
{
  Transfer *transfer = data;

  if (transfer->progress_notify != NULL)
    transfer->progress_notify (transfer->progress_data);
  g_free (transfer);
}

static gboolean
transfer_finish (GObject       *source,
                 GAsyncResult  *result,
                 gpointer       data,
                 GValue        *value,
                 GError       **error)
{
  Transfer *transfer = data;

  if (!transfer->finish (G_FILE (source), result, error))
    return FALSE;
  g_value_init (value, G_TYPE_BOOLEAN);
  g_value_set_boolean (value, TRUE);
  return TRUE;
}

static CoopAsyncFuture *
transfer_op_new (CoopLoop       *loop,
                 GCancellable   *cancellable,
                 gpointer        finish,
                 gpointer        progress_data,
                 GDestroyNotify  progress_notify)
{
  Transfer *transfer = g_new (Transfer, 1);

  transfer->finish = finish;
  transfer->progress_data = progress_data;
  transfer->progress_notify = progress_notify;
  return coop_gio_op_new_hook (loop, cancellable, transfer_finish, transfer, transfer_free);
}

/**
 * coop_file_copy:
 * @loop: the loop of the future
 * @source: the file to copy
 * @destination: where to copy it
 * @flags: how to copy
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @progress_callback: (nullable) (scope notified) (closure progress_data)
 *   (destroy progress_notify): called with the progress of the copy
 * @progress_data: data for @progress_callback
 * @progress_notify: (nullable): frees @progress_data once the copy is over
 * @cancellable: (nullable): cancels the future (and the copy)
 *
 * Copies @source to @destination, as g_file_copy_async() does.
 * @progress_callback runs on the loop's thread, from its #GMainContext,
 * while the copy goes on; none runs after the future is done.  See
 * [func@Coop.file_load_contents] for how the GIO wrappers work.
 *
 * Returns: (transfer full): a future that finishes with %TRUE, or fails
 *   with GIO's error
 */
CoopFuture *
coop_file_copy (CoopLoop              *loop,
                GFile                 *source,
                GFile                 *destination,
                GFileCopyFlags         flags,
                int                    io_priority,
                GFileProgressCallback  progress_callback,
                gpointer               progress_data,
                GDestroyNotify         progress_notify,
                GCancellable          *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (source), NULL);
  g_return_val_if_fail (G_IS_FILE (destination), NULL);

  op = transfer_op_new (loop, cancellable, g_file_copy_finish, progress_data, progress_notify);
  g_file_copy_async (source, destination, flags, io_priority, coop_gio_op_cancellable (op),
                     progress_callback, progress_data, coop_async_future_callback, op);
  return coop_gio_op_started (op);
}

/**
 * coop_file_move:
 * @loop: the loop of the future
 * @source: the file to move
 * @destination: where to move it
 * @flags: how to move
 * @io_priority: the I/O priority, %G_PRIORITY_DEFAULT as a rule
 * @progress_callback: (nullable) (scope notified) (closure progress_data)
 *   (destroy progress_notify): called with the progress of the move, when
 *   it has to copy
 * @progress_data: data for @progress_callback
 * @progress_notify: (nullable): frees @progress_data once the move is over
 * @cancellable: (nullable): cancels the future (and the move)
 *
 * Moves @source to @destination, as g_file_move_async() does (a rename
 * where it can, else a copy and a delete).  @progress_callback runs on the
 * loop's thread.  See [func@Coop.file_load_contents] for how the GIO
 * wrappers work.
 *
 * Returns: (transfer full): a future that finishes with %TRUE, or fails
 *   with GIO's error
 */
CoopFuture *
coop_file_move (CoopLoop              *loop,
                GFile                 *source,
                GFile                 *destination,
                GFileCopyFlags         flags,
                int                    io_priority,
                GFileProgressCallback  progress_callback,
                gpointer               progress_data,
                GDestroyNotify         progress_notify,
                GCancellable          *cancellable)
{
  CoopAsyncFuture *op;

  CHECK_COMMON (loop, cancellable);
  g_return_val_if_fail (G_IS_FILE (source), NULL);
  g_return_val_if_fail (G_IS_FILE (destination), NULL);

  op = transfer_op_new (loop, cancellable, g_file_move_finish, progress_data, progress_notify);
  g_file_move_async (source, destination, flags, io_priority, coop_gio_op_cancellable (op),
                     progress_callback, progress_data, coop_async_future_callback, op);
  return coop_gio_op_started (op);
}
