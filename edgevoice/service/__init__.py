"""The systemd face of edgevoice: readiness and status, the watchdog, the journal, signals, install.

Everything here also works outside systemd, where it quietly does nothing (notify, watchdog)
or falls back to plain stderr logging (journal).
"""
