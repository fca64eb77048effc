/* coop-future-list-model.c: a GListModel of futures' results, in completion order.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-private.h"
#include "coop-future-list-model.h"

/**
 * CoopFutureListModel:
 *
 * A [iface@Gio.ListModel] whose items are the results of futures, appended
 * as the futures finish: give it futures with
 * [method@Coop.FutureListModel.add] and bind it to a `GtkListView` to show
 * results as they arrive (GNOME's libdex calls this a future list model).
 *
 * - **Order.** Items are in completion order: each future's result is
 *   appended, with one `items-changed` (position n, 0 removed, 1 added),
 *   when the future's done callback runs on its loop's ready queue, so
 *   always on the loop, never inside [method@Coop.FutureListModel.add],
 *   and in the order in which the futures completed.  Items are never
 *   removed or reordered.
 * - **Items.** A future must finish with an object that is an instance of
 *   [property@Coop.FutureListModel:item-type] (as
 *   [method@Coop.Future.set_object] gives it).  The model holds a
 *   reference on each item.
 * - **Failures.** A future that fails, is cancelled, or finishes with
 *   something else (no value, %NULL, another type: the last also gets a
 *   critical, it is a programming error) adds no item: it is counted in
 *   [property@Coop.FutureListModel:n-failed] and reported by the
 *   [signal@Coop.FutureListModel::failed] signal, whose handler can read
 *   the future's error.  The model reads that error, so a failure it
 *   counted is not reported again as unretrieved.
 * - **Lifetime.** The model holds each pending future until it is done, so
 *   a future can be added and forgotten.  Disposing the model lets go of
 *   the pending futures without cancelling them.
 *
 * The model belongs to the thread of the loop(s) of its futures, as GTK's
 * models belong to GTK's thread.
 */

struct _CoopFutureListModel
{
  GObject    parent_instance;

  GType      item_type;
  GPtrArray *items;      /* GObject, a reference each */
  GPtrArray *pending;    /* Entry */
  guint      n_failed;
};

/* One pending future.  The done callback's data: it outlives the model if
 * the callback was already queued when the model went. */
typedef struct
{
  CoopFutureListModel *self;     /* NULL once the model is disposed */
  CoopFuture          *future;   /* a reference */
} Entry;

enum
{
  PROP_0,
  PROP_ITEM_TYPE,
  PROP_N_ITEMS,
  PROP_N_PENDING,
  PROP_N_FAILED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum
{
  SIGNAL_FAILED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (CoopFutureListModel, coop_future_list_model, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

/* --- GListModel ------------------------------------------------------------------- */

static GType
model_get_item_type (GListModel *model)
{
  return COOP_FUTURE_LIST_MODEL (model)->item_type;
}

static guint
model_get_n_items (GListModel *model)
{
  return COOP_FUTURE_LIST_MODEL (model)->items->len;
}

static gpointer
model_get_item (GListModel *model,
                guint       position)
{
  CoopFutureListModel *self = COOP_FUTURE_LIST_MODEL (model);

  if (position >= self->items->len)
    return NULL;
  return g_object_ref (g_ptr_array_index (self->items, position));
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = model_get_item_type;
  iface->get_n_items = model_get_n_items;
  iface->get_item = model_get_item;
}

/* --- futures ------------------------------------------------------------------------ */

static void
entry_free (gpointer data)
{
  Entry *entry = data;

  g_object_unref (entry->future);
  g_free (entry);
}

static void
future_done (CoopFuture *future,
             gpointer    user_data)
{
  Entry *entry = user_data;
  CoopFutureListModel *self = entry->self;
  const GValue *value;

  if (self == NULL)
    return;   /* the model went after this callback was queued */

  g_object_ref (self);
  g_ptr_array_remove_fast (self->pending, entry);
  entry->self = NULL;

  value = coop_future_get_state (future) == COOP_FUTURE_STATE_FINISHED
          ? coop_future_get_value (future, NULL) : NULL;
  if (value != NULL && G_VALUE_HOLDS_OBJECT (value) && g_value_get_object (value) != NULL &&
      g_type_is_a (G_OBJECT_TYPE (g_value_get_object (value)), self->item_type))
    {
      guint position = self->items->len;

      g_ptr_array_add (self->items, g_value_dup_object (value));
      g_list_model_items_changed (G_LIST_MODEL (self), position, 0, 1);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
    }
  else
    {
      if (coop_future_get_state (future) == COOP_FUTURE_STATE_FINISHED &&
          value != NULL && G_VALUE_HOLDS_OBJECT (value) && g_value_get_object (value) != NULL)
        g_critical ("CoopFutureListModel: a future finished with a %s, which is not a %s",
                    G_OBJECT_TYPE_NAME (g_value_get_object (value)), g_type_name (self->item_type));
      /* Reading the error marks it retrieved: counted, not reported. */
      (void) coop_future_get_error (future);
      self->n_failed++;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_FAILED]);
      g_signal_emit (self, signals[SIGNAL_FAILED], 0, future);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_PENDING]);
  g_object_unref (self);
}

/* --- GObject ------------------------------------------------------------------------- */

static void
coop_future_list_model_dispose (GObject *object)
{
  CoopFutureListModel *self = COOP_FUTURE_LIST_MODEL (object);

  while (self->pending->len > 0)
    {
      Entry *entry = g_ptr_array_steal_index_fast (self->pending, self->pending->len - 1);

      entry->self = NULL;
      /* Frees the entry if the callback was not queued yet; else the
       * callback finds it orphaned and its notify frees it. */
      coop_future_remove_done_callback (entry->future, future_done, entry);
    }
  g_ptr_array_set_size (self->items, 0);

  G_OBJECT_CLASS (coop_future_list_model_parent_class)->dispose (object);
}

static void
coop_future_list_model_finalize (GObject *object)
{
  CoopFutureListModel *self = COOP_FUTURE_LIST_MODEL (object);

  g_ptr_array_unref (self->items);
  g_ptr_array_unref (self->pending);

  G_OBJECT_CLASS (coop_future_list_model_parent_class)->finalize (object);
}

static void
coop_future_list_model_get_property (GObject    *object,
                                     guint       prop_id,
                                     GValue     *value,
                                     GParamSpec *pspec)
{
  CoopFutureListModel *self = COOP_FUTURE_LIST_MODEL (object);

  switch (prop_id)
    {
    case PROP_ITEM_TYPE:
      g_value_set_gtype (value, self->item_type);
      break;
    case PROP_N_ITEMS:
      g_value_set_uint (value, self->items->len);
      break;
    case PROP_N_PENDING:
      g_value_set_uint (value, self->pending->len);
      break;
    case PROP_N_FAILED:
      g_value_set_uint (value, self->n_failed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_future_list_model_set_property (GObject      *object,
                                     guint         prop_id,
                                     const GValue *value,
                                     GParamSpec   *pspec)
{
  CoopFutureListModel *self = COOP_FUTURE_LIST_MODEL (object);

  switch (prop_id)
    {
    case PROP_ITEM_TYPE:
      self->item_type = g_value_get_gtype (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
coop_future_list_model_init (CoopFutureListModel *self)
{
  self->item_type = G_TYPE_OBJECT;
  self->items = g_ptr_array_new_with_free_func (g_object_unref);
  self->pending = g_ptr_array_new ();
}

static void
coop_future_list_model_class_init (CoopFutureListModelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = coop_future_list_model_dispose;
  object_class->finalize = coop_future_list_model_finalize;
  object_class->get_property = coop_future_list_model_get_property;
  object_class->set_property = coop_future_list_model_set_property;

  /**
   * CoopFutureListModel:item-type:
   *
   * The type of the items: every future's result must be an instance of
   * it.  %G_TYPE_OBJECT unless given.
   */
  properties[PROP_ITEM_TYPE] =
    g_param_spec_gtype ("item-type", NULL, NULL, G_TYPE_OBJECT,
                        G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * CoopFutureListModel:n-items:
   *
   * The number of items: the futures that finished with an object so far.
   */
  properties[PROP_N_ITEMS] =
    g_param_spec_uint ("n-items", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * CoopFutureListModel:n-pending:
   *
   * The number of futures added and not done yet.
   */
  properties[PROP_N_PENDING] =
    g_param_spec_uint ("n-pending", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * CoopFutureListModel:n-failed:
   *
   * The number of futures that were done without giving an item: failed,
   * cancelled, or finished without an object of
   * [property@Coop.FutureListModel:item-type].
   */
  properties[PROP_N_FAILED] =
    g_param_spec_uint ("n-failed", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * CoopFutureListModel::failed:
   * @self: the model
   * @future: the future that gave no item
   *
   * Emitted on the loop when an added future is done without giving an
   * item (see [property@Coop.FutureListModel:n-failed]); its error, if it
   * has one, is [method@Coop.Future.get_error].
   */
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, COOP_TYPE_FUTURE);
}

/* --- public API ------------------------------------------------------------------------ */

/**
 * coop_future_list_model_new:
 * @item_type: the type of the futures' results, a #GObject type
 *
 * Makes an empty model of results of type @item_type.
 *
 * Returns: (transfer full): a new model
 */
CoopFutureListModel *
coop_future_list_model_new (GType item_type)
{
  g_return_val_if_fail (g_type_is_a (item_type, G_TYPE_OBJECT) ||
                        G_TYPE_IS_INTERFACE (item_type), NULL);

  return g_object_new (COOP_TYPE_FUTURE_LIST_MODEL, "item-type", item_type, NULL);
}

/**
 * coop_future_list_model_add:
 * @self: a model
 * @future: a future whose result will be an item of @self
 *
 * Adds @future: its result is appended to @self once it is done (from its
 * loop's ready queue, even if it is done already).  The model holds
 * @future until then.  Adding the same future twice gives two items.
 */
void
coop_future_list_model_add (CoopFutureListModel *self,
                            CoopFuture          *future)
{
  Entry *entry;

  g_return_if_fail (COOP_IS_FUTURE_LIST_MODEL (self));
  g_return_if_fail (COOP_IS_FUTURE (future));

  entry = g_new0 (Entry, 1);
  entry->self = self;
  entry->future = g_object_ref (future);
  g_ptr_array_add (self->pending, entry);
  coop_future_add_done_callback (future, future_done, entry, entry_free);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_PENDING]);
}

/**
 * coop_future_list_model_get_n_pending:
 * @self: a model
 *
 * Counts the futures added to @self that are not done yet
 * ([property@Coop.FutureListModel:n-pending]).
 *
 * Returns: the number of futures added and not done yet
 */
guint
coop_future_list_model_get_n_pending (CoopFutureListModel *self)
{
  g_return_val_if_fail (COOP_IS_FUTURE_LIST_MODEL (self), 0);

  return self->pending->len;
}

/**
 * coop_future_list_model_get_n_failed:
 * @self: a model
 *
 * Counts the futures that were done without giving an item: failed,
 * cancelled, or finished with something other than an object of the
 * item type.
 *
 * Returns: the number of futures that were done without giving an item
 *   (see [property@Coop.FutureListModel:n-failed])
 */
guint
coop_future_list_model_get_n_failed (CoopFutureListModel *self)
{
  g_return_val_if_fail (COOP_IS_FUTURE_LIST_MODEL (self), 0);

  return self->n_failed;
}
