/* coop-unix.h: Unix signals and subprocesses on the loop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-task.h"
#include "coop-stream.h"

G_BEGIN_DECLS

/* --- Unix signals ------------------------------------------------------------ */

COOP_AVAILABLE_IN_ALL
guint       coop_loop_add_signal_handler    (CoopLoop      *loop,
                                             int            signum,
                                             CoopCallback   callback,
                                             gpointer       user_data,
                                             GDestroyNotify notify);
COOP_AVAILABLE_IN_ALL
gboolean    coop_loop_remove_signal_handler (CoopLoop      *loop,
                                             guint          id);
COOP_AVAILABLE_IN_ALL
CoopFuture *coop_unix_signal_wait           (CoopLoop      *loop,
                                             int            signum);

/* --- subprocesses ------------------------------------------------------------ */

typedef struct _CoopSubprocessOutput CoopSubprocessOutput;

#define COOP_TYPE_SUBPROCESS_OUTPUT (coop_subprocess_output_get_type ())
COOP_AVAILABLE_IN_ALL
GType                 coop_subprocess_output_get_type   (void) G_GNUC_CONST;
COOP_AVAILABLE_IN_ALL
CoopSubprocessOutput *coop_subprocess_output_ref        (CoopSubprocessOutput *output);
COOP_AVAILABLE_IN_ALL
void                  coop_subprocess_output_unref      (CoopSubprocessOutput *output);
COOP_AVAILABLE_IN_ALL
GBytes               *coop_subprocess_output_get_stdout (CoopSubprocessOutput *output);
COOP_AVAILABLE_IN_ALL
GBytes               *coop_subprocess_output_get_stderr (CoopSubprocessOutput *output);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CoopSubprocessOutput, coop_subprocess_output_unref)

#define COOP_TYPE_SUBPROCESS (coop_subprocess_get_type ())
COOP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CoopSubprocess, coop_subprocess, COOP, SUBPROCESS, GObject)

COOP_AVAILABLE_IN_ALL
CoopSubprocess *coop_subprocess_new             (CoopLoop            *loop,
                                                 const char * const  *argv,
                                                 GSubprocessFlags     flags,
                                                 GError             **error);
COOP_AVAILABLE_IN_ALL
CoopSubprocess *coop_subprocess_new_with_streams (CoopLoop           *loop,
                                                  const char * const *argv,
                                                  GSubprocessFlags    flags,
                                                  GError            **error);
COOP_AVAILABLE_IN_ALL
CoopLoop       *coop_subprocess_get_loop        (CoopSubprocess      *self);
COOP_AVAILABLE_IN_ALL
GSubprocess    *coop_subprocess_get_gsubprocess (CoopSubprocess      *self);
COOP_AVAILABLE_IN_ALL
GOutputStream  *coop_subprocess_get_stdin_pipe  (CoopSubprocess      *self);
COOP_AVAILABLE_IN_ALL
GInputStream   *coop_subprocess_get_stdout_pipe (CoopSubprocess      *self);
COOP_AVAILABLE_IN_ALL
GInputStream   *coop_subprocess_get_stderr_pipe (CoopSubprocess      *self);
COOP_AVAILABLE_IN_ALL
CoopStream     *coop_subprocess_get_stdin_stream  (CoopSubprocess    *self);
COOP_AVAILABLE_IN_ALL
CoopStream     *coop_subprocess_get_stdout_stream (CoopSubprocess    *self);
COOP_AVAILABLE_IN_ALL
CoopStream     *coop_subprocess_get_stderr_stream (CoopSubprocess    *self);
COOP_AVAILABLE_IN_ALL
CoopFuture     *coop_subprocess_wait            (CoopSubprocess      *self);
COOP_AVAILABLE_IN_ALL
CoopFuture     *coop_subprocess_communicate     (CoopSubprocess      *self,
                                                 GBytes              *stdin_buf);
COOP_AVAILABLE_IN_ALL
gboolean        coop_subprocess_get_returncode  (CoopSubprocess      *self,
                                                 int                 *returncode);
COOP_AVAILABLE_IN_ALL
void            coop_subprocess_send_signal     (CoopSubprocess      *self,
                                                 int                  signum);
COOP_AVAILABLE_IN_ALL
void            coop_subprocess_terminate       (CoopSubprocess      *self);
COOP_AVAILABLE_IN_ALL
void            coop_subprocess_kill            (CoopSubprocess      *self);

G_END_DECLS
