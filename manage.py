#!/usr/bin/env python
"""Django's command-line utility for alarm-access (`python manage.py run_access ...`)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alarm_access_project.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:  # bad environment, found while loading settings: one line, exit 2
        sys.stderr.write(f"manage.py: error: {error}\n")
        raise SystemExit(2) from None
    except KeyboardInterrupt:  # SIGINT before the supervisor owns the signals (start-up): no traceback
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
