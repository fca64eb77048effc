/* coop.h: the one public header of Coop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#define COOP_INSIDE
#include "coop-types.h"
#include "coop-error.h"
#include "coop-loop.h"
#include "coop-future.h"
#include "coop-task.h"
#include "coop-dense-task.h"
#include "coop-combinators.h"
#include "coop-debug.h"
#include "coop-sync.h"
#include "coop-condition.h"
#include "coop-queue.h"
#include "coop-task-group.h"
#include "coop-timeout.h"
#include "coop-future-list-model.h"
#include "coop-threadpool.h"
#include "coop-gio.h"
#include "coop-dbus.h"
#include "coop-gio-wrappers.h"
#include "coop-unix.h"
#include "coop-io.h"
#include "coop-stream.h"
#include "coop-tls.h"
#include "coop-datagram.h"
#include "coop-connect.h"
#include "coop-driver.h"
#include "coop-fs.h"
#include "coop-crossloop.h"
#include "coop-loop-pool.h"
#undef COOP_INSIDE
