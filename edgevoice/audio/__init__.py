"""Audio in: sources that deliver 10 ms frames of 16 kHz mono 16-bit PCM.

``Microphone`` (PyAudio, reopened when it dies) and ``WavSource`` (a recording) have the same
interface: ``frames()`` yields 320-byte frames, ``status`` says how the source is doing, and
``close()`` stops it. Import them from their modules (``edgevoice.audio.microphone``,
``edgevoice.audio.wav``) so that importing this package stays cheap.
"""
