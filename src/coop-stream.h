/* coop-stream.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (COOP_INSIDE) && !defined (COOP_COMPILATION)
# error "Only <coop.h> can be included directly."
#endif

#include "coop-task.h"

G_BEGIN_DECLS

G_END_DECLS
