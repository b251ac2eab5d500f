"""Local listening: noise handling, voice activity, wake words and the gate.

Everything here runs on the device and decides, cheaply and privately, when someone is talking
to it. ``edgevoice.listening.frontend.ListeningFrontend`` ties the parts together:
``process(frame) -> events``; ``open_gate(reason) -> pre-roll``; ``close_gate()``. Import from
the modules (numpy and the audio libraries load only then).
"""
