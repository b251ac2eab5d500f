"""What the device says by itself when Voice Live cannot answer, and how it finds the service again.

- :mod:`~edgevoice.offline.connectivity`: online / degraded / offline and when to check again (pure).
- :mod:`~edgevoice.offline.probe`: the cheap check (DNS, TCP, TLS, one HTTP answer) under the connect deadline.
- :mod:`~edgevoice.offline.cache`: phrases rendered in the assistant's voice, on disk, checksummed.
- :mod:`~edgevoice.offline.render`: rendering them through a real Voice Live session; ``warm()``.
- :mod:`~edgevoice.offline.phrases`: the PhraseBook the daemon plays from (cache, else a local voice).
- :mod:`~edgevoice.offline.shell`: the daemon's offline shell tying these together.
- :mod:`~edgevoice.offline.matcher`: which [[offline.answers]] answer fits what was heard, if any (pure).
- :mod:`~edgevoice.offline.recogniser`: pocketsphinx on the device, listening for the configured questions.
- :mod:`~edgevoice.offline.learned`: answers learned from live conversations (``offline.learn``).
- :mod:`~edgevoice.offline.answers`: the daemon's shell for offline answers (keep, recognise, play).

Measuring the offline latencies lives in ``edgevoice.bench`` (``offline_latency``, ``blackhole``).
"""
