/* coop-dbus-service.c: a D-Bus service whose method awaits, and a client
 * that calls it, on a private message bus.
 *
 * The service exports org.example.Greeter at /org/example/Greeter and owns
 * that name; its Greet method "looks the visitor up" (an await: a short
 * sleep here, a database or another D-Bus call in real life) before it
 * answers.  Every call is a task of its own, so the client's three calls
 * are served at the same time.
 *
 *   coop-dbus-service                  starts its own dbus-daemon
 *   coop-dbus-service --address ADDR   uses the bus at ADDR
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <coop.h>

#include <signal.h>
#include <sys/prctl.h>

static const char greeter_xml[] =
  "<node>"
  "  <interface name='org.example.Greeter'>"
  "    <method name='Greet'>"
  "      <arg name='name' type='s' direction='in'/>"
  "      <arg name='greeting' type='s' direction='out'/>"
  "    </method>"
  "    <property name='Greeted' type='u' access='read'/>"
  "  </interface>"
  "</node>";

typedef struct
{
  CoopLoop       *loop;
  CoopDBusExport *export;
  guint           greeted;
  const char     *address;
  gboolean        ok;
} App;

/* --- the service ------------------------------------------------------------ */

/* Runs as a task per call: it may await, and other calls go on meanwhile.
 * If the caller leaves the bus, the await fails (cancelled) and so does
 * the method: there is nobody left to answer. */
static GVariant *
greet (GDBusMethodInvocation  *invocation,
       GVariant               *parameters,
       gpointer                user_data,
       GError                **error)
{
  App *app = user_data;
  g_autoptr(CoopFuture) lookup = coop_sleep (app->loop, 50 * 1000);
  g_autofree char *greeting = NULL;
  const char *name;

  g_variant_get (parameters, "(&s)", &name);
  if (name[0] == '\0')
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "Whom should I greet?");
      return NULL;
    }
  if (!coop_await (lookup, error))
    return NULL;

  app->greeted++;
  coop_dbus_export_set_property (app->export, "Greeted", g_variant_new_uint32 (app->greeted), NULL);
  greeting = g_strdup_printf ("Hello, %s!", name);
  return g_variant_new ("(s)", greeting);
}

/* --- both ends ------------------------------------------------------------------ */

static GDBusConnection *
connect_bus (App     *app,
             GError **error)
{
  g_autoptr(CoopFuture) connecting =
    coop_dbus_connection_new_for_address (app->loop, app->address,
                                          G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                          G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL);

  if (!coop_await (connecting, error))
    return NULL;
  return coop_dbus_connection_new_for_address_finish (connecting, error);
}

static gboolean
serve_and_call (App     *app,
                GError **error)
{
  g_autoptr(GDBusConnection) service_bus = NULL;
  g_autoptr(GDBusConnection) client_bus = NULL;
  g_autoptr(CoopFuture) owning = NULL;
  g_autoptr(CoopFuture) watch = NULL;
  g_autoptr(CoopFuture) appeared = NULL;
  g_autoptr(CoopFuture) all = NULL;
  g_autoptr(CoopFuture) nobody = NULL;
  g_autofree char *owner = NULL;
  const char *names[] = { "Ada", "Bob", "Cy" };
  CoopFuture *calls[G_N_ELEMENTS (names)];

  /* The service: export the object, then ask for the name. */
  service_bus = connect_bus (app, error);
  if (service_bus == NULL)
    return FALSE;
  app->export = coop_dbus_export_new_for_xml (app->loop, service_bus, "/org/example/Greeter",
                                              greeter_xml, "org.example.Greeter", error);
  if (app->export == NULL)
    return FALSE;
  coop_dbus_export_add_method (app->export, "Greet", greet, app, NULL);
  coop_dbus_export_set_property (app->export, "Greeted", g_variant_new_uint32 (0), NULL);
  if (!coop_dbus_export_register (app->export, error))
    return FALSE;
  owning = coop_bus_own_name (app->loop, service_bus, "org.example.Greeter",
                              G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE);

  /* The client: wait (5 s at most) for the name, then call three times
   * at once. */
  client_bus = connect_bus (app, error);
  if (client_bus == NULL)
    return FALSE;
  watch = coop_bus_watch_name (app->loop, client_bus, "org.example.Greeter",
                               G_BUS_NAME_WATCHER_FLAGS_NONE);
  appeared = coop_wait_for (watch, 5 * G_USEC_PER_SEC);
  if (!coop_await (appeared, error))
    return FALSE;
  owner = coop_bus_watch_name_finish (watch, error);
  g_print ("org.example.Greeter is on the bus, owned by %s\n", owner);

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    calls[i] = coop_dbus_connection_call (app->loop, client_bus, "org.example.Greeter",
                                          "/org/example/Greeter", "org.example.Greeter", "Greet",
                                          g_variant_new ("(s)", names[i]), G_VARIANT_TYPE ("(s)"),
                                          G_DBUS_CALL_FLAGS_NONE, -1);
  all = coop_gather (app->loop, calls, G_N_ELEMENTS (calls), TRUE);
  coop_await (all, NULL);
  app->ok = TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr(GError) call_error = NULL;
      g_autoptr(GVariant) reply = coop_dbus_connection_call_finish (calls[i], &call_error);

      const char *greeting;

      if (reply != NULL)
        {
          g_variant_get (reply, "(&s)", &greeting);
          g_print ("  Greet (\"%s\") -> %s\n", names[i], greeting);
        }
      else
        {
          g_print ("  Greet (\"%s\") failed: %s\n", names[i], call_error->message);
          app->ok = FALSE;
        }
      g_object_unref (calls[i]);
    }

  /* A D-Bus error comes back as a GError. */
  nobody = coop_dbus_connection_call (app->loop, client_bus, "org.example.Greeter",
                                      "/org/example/Greeter", "org.example.Greeter", "Greet",
                                      g_variant_new ("(s)", ""), G_VARIANT_TYPE ("(s)"),
                                      G_DBUS_CALL_FLAGS_NONE, -1);
  if (!coop_await (nobody, error))
    {
      g_autofree char *remote = g_dbus_error_get_remote_error (*error);

      g_dbus_error_strip_remote_error (*error);
      g_print ("  Greet (\"\") failed: %s (%s)\n", (*error)->message, remote);
      app->ok = app->ok && g_error_matches (*error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
      g_clear_error (error);
    }
  else
    app->ok = FALSE;

  g_print ("%u visitors greeted\n", app->greeted);
  app->ok = app->ok && app->greeted == G_N_ELEMENTS (names);

  if (coop_await (owning, error))
    coop_bus_unown_name (coop_bus_own_name_finish (owning, NULL));
  coop_dbus_export_unregister (app->export);
  return error == NULL || *error == NULL;
}

static void
main_task (CoopTask *task,
           gpointer  user_data)
{
  GError *error = NULL;

  if (!serve_and_call (user_data, &error))
    coop_future_take_error (COOP_FUTURE (task), error);
}

/* --- a private bus ---------------------------------------------------------------- */

static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static GSubprocess *
start_bus (char   **address,
           GError **error)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GSubprocess) daemon = NULL;

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  daemon = g_subprocess_launcher_spawn (launcher, error, "dbus-daemon", "--session", "--nofork",
                                        "--print-address", NULL);
  if (daemon == NULL)
    return NULL;
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (daemon));
  *address = g_data_input_stream_read_line (out, NULL, NULL, error);
  if (*address == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "dbus-daemon printed no address");
      return NULL;
    }
  return g_steal_pointer (&daemon);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GSubprocess) daemon = NULL;
  g_autoptr(CoopTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;
  App app = { 0 };

  if (argc == 3 && g_str_equal (argv[1], "--address"))
    address = g_strdup (argv[2]);
  else if (argc != 1)
    {
      g_printerr ("usage: %s [--address D-BUS-ADDRESS]\n", argv[0]);
      return 2;
    }
  else if ((daemon = start_bus (&address, &error)) == NULL)
    {
      g_printerr ("could not start dbus-daemon: %s\n", error->message);
      return 77;   /* skipped, for the test suite */
    }

  app.loop = coop_loop_get_default ();
  app.address = g_strstrip (address);
  task = coop_task_new (app.loop, main_task, &app, NULL);
  if (!coop_loop_run_until_complete (app.loop, COOP_FUTURE (task), &error))
    g_printerr ("failed: %s\n", error->message);
  g_clear_object (&app.export);
  coop_loop_close (app.loop);
  if (daemon != NULL)
    {
      g_subprocess_force_exit (daemon);
      g_subprocess_wait (daemon, NULL, NULL);
    }
  return error == NULL && app.ok ? 0 : 1;
}
