/* count-marks.c: counts the Coop marks in a Sysprof capture file and prints
 * a few await descriptions.  Used by check-sysprof.sh.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <string.h>
#include <sysprof-capture.h>

int
main (int    argc,
      char **argv)
{
  SysprofCaptureReader *reader;
  SysprofCaptureFrameType type;
  int steps = 0, awaits = 0;

  if (argc != 2)
    {
      fprintf (stderr, "usage: count-marks CAPTURE\n");
      return 2;
    }
  reader = sysprof_capture_reader_new (argv[1]);
  if (reader == NULL)
    {
      fprintf (stderr, "count-marks: cannot read %s\n", argv[1]);
      return 1;
    }
  while (sysprof_capture_reader_peek_type (reader, &type))
    {
      if (type == SYSPROF_CAPTURE_FRAME_MARK)
        {
          const SysprofCaptureMark *mark = sysprof_capture_reader_read_mark (reader);

          if (mark == NULL)
            break;
          if (strcmp (mark->group, "Coop") != 0)
            continue;
          if (strcmp (mark->name, "task step") == 0)
            steps++;
          else if (strcmp (mark->name, "await") == 0 && awaits++ < 3)
            printf ("# await: %s\n", mark->message);
        }
      else if (!sysprof_capture_reader_skip (reader))
        break;
    }
  sysprof_capture_reader_unref (reader);
  printf ("steps %d awaits %d\n", steps, awaits);
  return steps > 0 && awaits > 0 ? 0 : 1;
}
