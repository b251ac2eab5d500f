"""edgevoice: a device-side voice assistant daemon speaking Azure Voice Live."""

__version__ = "0.1.0"
