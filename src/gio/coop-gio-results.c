/* coop-gio-results.c: typed getters for the results of the GIO wrappers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "coop-gio-private.h"

/* The wrappers' futures hold their results in GValues of the result's
 * type; these read them back without a cast, and say so clearly when the
 * future holds something else. */

static gpointer
get_object_of_type (CoopFuture  *future,
                    GType        type,
                    GError     **error)
{
  const GValue *value = coop_future_get_value (future, error);

  if (value == NULL)
    {
      /* Not done, failed, cancelled (error set), or finished with no value. */
      if (error != NULL && *error == NULL)
        g_set_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                     "The future's result is not a %s (it has no value)", g_type_name (type));
      return NULL;
    }
  if (!G_VALUE_HOLDS (value, type) &&
      !(G_VALUE_HOLDS_OBJECT (value) && g_value_get_object (value) != NULL &&
        g_type_is_a (G_OBJECT_TYPE (g_value_get_object (value)), type)))
    {
      g_set_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                   "The future's result is not a %s (it is %s)",
                   g_type_name (type), G_VALUE_TYPE_NAME (value));
      return NULL;
    }
  if (G_VALUE_HOLDS_OBJECT (value))
    return g_value_get_object (value);
  if (G_VALUE_HOLDS_VARIANT (value))
    return g_value_get_variant (value);
  return g_value_get_boxed (value);
}

/* A GPtrArray result whose elements are @element_type objects (the only
 * arrays the wrappers make).  An empty array fits any element type. */
static GPtrArray *
get_array_of (CoopFuture  *future,
              GType        element_type,
              GError     **error)
{
  GPtrArray *array = get_object_of_type (future, G_TYPE_PTR_ARRAY, error);
  gboolean fits;

  if (array == NULL || array->len == 0)
    return array;
  fits = G_TYPE_CHECK_INSTANCE_TYPE (array->pdata[0], element_type);
  if (!fits)
    {
      g_set_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                   "The future's result is not an array of %s", g_type_name (element_type));
      return NULL;
    }
  return array;
}

/**
 * coop_future_get_input_stream:
 * @future: a finished future whose result is an input stream, from
 *   [func@Coop.file_read] for example
 * @error: return location for an error
 *
 * Gets the input stream a future finished with, without a cast.
 *
 * Returns: (transfer none) (nullable): the stream, owned by @future, or
 *   %NULL with @error set (the future failed, is not done, or its result
 *   is not a #GInputStream: %COOP_ERROR_NO_RESULT)
 */
GInputStream *
coop_future_get_input_stream (CoopFuture  *future,
                              GError     **error)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  return get_object_of_type (future, G_TYPE_INPUT_STREAM, error);
}

/**
 * coop_future_get_output_stream:
 * @future: a finished future whose result is an output stream, from
 *   [func@Coop.file_create] for example
 * @error: return location for an error
 *
 * Gets the output stream a future finished with, without a cast.
 *
 * Returns: (transfer none) (nullable): the stream, owned by @future, or
 *   %NULL with @error set
 */
GOutputStream *
coop_future_get_output_stream (CoopFuture  *future,
                               GError     **error)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  return get_object_of_type (future, G_TYPE_OUTPUT_STREAM, error);
}

/**
 * coop_future_get_file_info:
 * @future: a finished future of [func@Coop.file_query_info]
 * @error: return location for an error
 *
 * Gets the file information a future finished with, without a cast.
 *
 * Returns: (transfer none) (nullable): the information, owned by @future,
 *   or %NULL with @error set
 */
GFileInfo *
coop_future_get_file_info (CoopFuture  *future,
                           GError     **error)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  return get_object_of_type (future, G_TYPE_FILE_INFO, error);
}

/**
 * coop_future_get_file_enumerator:
 * @future: a finished future of [func@Coop.file_enumerate_children]
 * @error: return location for an error
 *
 * Gets the enumerator a future finished with, without a cast.
 *
 * Returns: (transfer none) (nullable): the enumerator, owned by @future,
 *   or %NULL with @error set
 */
GFileEnumerator *
coop_future_get_file_enumerator (CoopFuture  *future,
                                 GError     **error)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  return get_object_of_type (future, G_TYPE_FILE_ENUMERATOR, error);
}

/**
 * coop_future_get_file_infos:
 * @future: a finished future of [func@Coop.file_enumerator_next_files]
 * @error: return location for an error
 *
 * Gets the batch of file information a future finished with.  An empty
 * array means the enumeration is over.
 *
 * Returns: (transfer none) (element-type Gio.FileInfo) (nullable): the
 *   array, owned by @future, or %NULL with @error set
 */
GPtrArray *
coop_future_get_file_infos (CoopFuture  *future,
                            GError     **error)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  return get_array_of (future, G_TYPE_FILE_INFO, error);
}

/**
 * coop_future_get_socket_connection:
 * @future: a finished future of [func@Coop.socket_client_connect],
 *   [func@Coop.socket_client_connect_to_host] or
 *   [func@Coop.socket_listener_accept]
 * @error: return location for an error
 *
 * Gets the connection a future finished with, without a cast.
 *
 * Returns: (transfer none) (nullable): the connection, owned by @future,
 *   or %NULL with @error set
 */
GSocketConnection *
coop_future_get_socket_connection (CoopFuture  *future,
                                   GError     **error)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  return get_object_of_type (future, G_TYPE_SOCKET_CONNECTION, error);
}

/**
 * coop_future_get_inet_addresses:
 * @future: a finished future of [func@Coop.resolver_lookup_by_name]
 * @error: return location for an error
 *
 * Gets the addresses a lookup found.
 *
 * Returns: (transfer none) (element-type Gio.InetAddress) (nullable): the
 *   addresses, owned by @future, or %NULL with @error set
 */
GPtrArray *
coop_future_get_inet_addresses (CoopFuture  *future,
                                GError     **error)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  return get_array_of (future, G_TYPE_INET_ADDRESS, error);
}

/**
 * coop_future_get_records:
 * @future: a finished future of [func@Coop.resolver_lookup_records]
 * @error: return location for an error
 *
 * Gets the DNS records a lookup found, as an array of variants (type
 * `av`): each child holds one record as g_resolver_lookup_records() gives
 * it, a tuple whose type the record type says (`(qqqs)` for
 * %G_RESOLVER_RECORD_SRV, `(as)` for %G_RESOLVER_RECORD_TXT...).
 *
 * Returns: (transfer none) (nullable): the records, owned by @future, or
 *   %NULL with @error set
 */
GVariant *
coop_future_get_records (CoopFuture  *future,
                         GError     **error)
{
  GVariant *records;

  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  records = get_object_of_type (future, G_TYPE_VARIANT, error);
  if (records != NULL && !g_variant_is_of_type (records, G_VARIANT_TYPE ("av")))
    {
      g_set_error (error, COOP_ERROR, COOP_ERROR_NO_RESULT,
                   "The future's result is not a list of records (it is a %s variant)",
                   g_variant_get_type_string (records));
      return NULL;
    }
  return records;
}

/**
 * coop_future_get_subprocess_output:
 * @future: a finished future of [func@Coop.gsubprocess_communicate],
 *   [func@Coop.gsubprocess_communicate_utf8] or
 *   [method@Coop.Subprocess.communicate]
 * @error: return location for an error
 *
 * Gets what a process wrote, without a cast.
 *
 * Returns: (transfer none) (nullable): the output, owned by @future, or
 *   %NULL with @error set
 */
CoopSubprocessOutput *
coop_future_get_subprocess_output (CoopFuture  *future,
                                   GError     **error)
{
  g_return_val_if_fail (COOP_IS_FUTURE (future), NULL);

  return get_object_of_type (future, COOP_TYPE_SUBPROCESS_OUTPUT, error);
}
