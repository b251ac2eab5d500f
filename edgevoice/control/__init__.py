"""The control socket: scripts ask the running daemon for its status, make it speak, mute it, reload it.

``protocol`` is the wire format (pure), ``server`` the daemon's side, ``client`` what the
``edgevoice status/say/mute/unmute/reload`` commands use, ``status`` the status reply's sections.
"""
