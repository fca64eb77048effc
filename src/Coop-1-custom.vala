/* Coop-1-custom.vala: what the GIR leaves out because no interpreter may
 * run on a fiber, for Vala, which compiles to C: a Vala function is C code
 * and really runs as a task, so it may call Coop.await ().  vapigen merges
 * these declarations into the classes it generates from the GIR
 * (src/meson.build).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
namespace Coop {
	public sealed class Task : Coop.Future {
		[CCode (cname = "coop_task_new", has_construct_function = false)]
		public Task (Coop.Loop loop, owned Coop.TaskFunc func);
		[CCode (cname = "coop_task_new_full", has_construct_function = false)]
		public Task.full (Coop.Loop loop, string? name, size_t stack_size, owned Coop.TaskFunc func);
		[CCode (cname = "coop_task_new_for_gtask", has_construct_function = false)]
		public Task.for_gtask (Coop.Loop loop, GLib.Task gtask, owned Coop.TaskFunc func);
	}

	public sealed class TaskGroup : Coop.Future {
		[CCode (cname = "coop_task_group_spawn")]
		public unowned Coop.Task? spawn (string? name, owned Coop.TaskFunc func);
	}

	public sealed class Server : GLib.Object {
		[CCode (cname = "coop_server_new_tcp", has_construct_function = false)]
		public Server.tcp (Coop.Loop loop, string? host, uint16 port, int backlog, owned Coop.StreamHandler handler) throws GLib.Error;
		[CCode (cname = "coop_server_new_unix", has_construct_function = false)]
		public Server.unix (Coop.Loop loop, string path, int backlog, owned Coop.StreamHandler handler) throws GLib.Error;
	}

	/* A D-Bus method whose calls run as tasks of the Vala function. */
	public sealed class DBusExport : GLib.Object {
		[CCode (cname = "coop_dbus_export_add_method")]
		public void add_method (string method_name, owned Coop.DBusMethodFunc func);
	}

	/* A deadline for a block of a task: Timeout.enter () ... exit (). */
	[CCode (cheader_filename = "coop.h", ref_function = "coop_timeout_ref", unref_function = "coop_timeout_unref", type_id = "coop_timeout_get_type ()")]
	[Compact]
	public class Timeout {
		[CCode (cname = "coop_timeout_enter")]
		public static Coop.Timeout enter (int64 delay_usec) throws GLib.Error;
		[CCode (cname = "coop_timeout_enter_at")]
		public static Coop.Timeout enter_at (int64 when_usec) throws GLib.Error;
		/* @error is in-out: the error the block ended with goes in. */
		[CCode (cname = "coop_timeout_exit")]
		public bool exit (ref GLib.Error? error);
		[CCode (cname = "coop_timeout_reschedule")]
		public void reschedule (int64 when_usec);
		[CCode (cname = "coop_timeout_get_when")]
		public int64 get_when ();
		[CCode (cname = "coop_timeout_expired")]
		public bool expired ();
	}
}
