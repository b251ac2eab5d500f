"""``edgevoice bench``: this machine's CPU, memory and latency figures, measured on the real daemon.

One module per group of figures, and a runner that holds them together:

- :mod:`~edgevoice.bench.audio`: the recordings (espeak-ng speech placed in a seeded noisy room);
- :mod:`~edgevoice.bench.conversations`: what is said to the daemon, and when;
- :mod:`~edgevoice.bench.runs`: ``edgevoice run`` in a subprocess against an emulator, watched
  through /proc and a notify socket;
- :mod:`~edgevoice.bench.frontend`, :mod:`~edgevoice.bench.memory`, :mod:`~edgevoice.bench.latency`,
  :mod:`~edgevoice.bench.offline`: the figures;
- :mod:`~edgevoice.bench.machine`, :mod:`~edgevoice.bench.figures`: what they were measured on, and
  how they are shown;
- :mod:`~edgevoice.bench.runner`: ``run_bench(BenchOptions()) -> BenchReport``.

``edgevoice soak`` lives here too: :mod:`~edgevoice.bench.soak` runs the daemon for hundreds of
turns and reads its memory, threads and descriptors between them; :mod:`~edgevoice.bench.soak_user`
is the scripted person who talks to it (and its microphone, on the daemon's clock).
"""
