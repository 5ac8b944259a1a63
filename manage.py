#!/usr/bin/env python
"""Django's command-line utility for alarm-access (`python manage.py run_access ...`)."""

import faulthandler
import os
import signal
import sys
from types import FrameType


def exit_on_stop_signals() -> None:
    """First thing `run_access` does: until its `Supervisor` owns the signals (while Django, the config, the
    service and its clients start), a SIGTERM exits 0 and a SIGINT 130 at once — nothing has been taken in
    yet, so there is nothing to drain. Without it SIGTERM in the first seconds killed the process (-15)."""

    def _exit(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0 if signum == signal.SIGTERM else 130)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit)


def main() -> None:
    if sys.argv[1:2] == ["run_access"]:
        exit_on_stop_signals()
        # `kill -USR1 <pid>` prints every thread's stack to stderr: what a process that does not stop is doing
        faulthandler.register(signal.SIGUSR1, all_threads=True)
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
