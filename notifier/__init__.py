"""notifier: Vietnamese plan timings → dated schedules, ICS feeds and reminder emails.

The package keeps a pure core (text, timing, plan, units, importers, reminders, feeds)
and thin adapters (schedules/config files, store, mailer, web, daemon, cli).
Heavy modules are imported lazily by the CLI so `notifier --help` stays fast.
"""

__version__ = "0.1.0"
