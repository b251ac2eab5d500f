"""Audio out: replies streamed to a speaker (or a time-aligned WAV file), and the chimes.

:class:`Speaker` plays on a PyAudio device, :class:`WavSpeaker` records what would have played
on the input's clock (``--output-wav``); both take ``play(pcm, rate)`` chunks, ``finish()`` or
``stop()`` a reply, and ``play_sound()`` a chime from :func:`load_chime`.
"""

from edgevoice.playback.sound import Sound, load_chime
from edgevoice.playback.speaker import DeviceNotFound, Speaker, find_output_device, output_devices
from edgevoice.playback.wav_speaker import WavSpeaker

__all__ = ["DeviceNotFound", "Sound", "Speaker", "WavSpeaker", "find_output_device", "load_chime", "output_devices"]
