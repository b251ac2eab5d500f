"""Client-reference echo cancellation, as the emulator does it: a small adaptive filter.

With ``input_audio_echo_cancellation = {reference_source: "client", channels: 2}`` the client
streams interleaved stereo: channel 0 the microphone, channel 1 what its speaker played, on the
capture clock. The filter learns how the speaker's sound reaches the microphone (the room's echo
path, up to ``length_ms`` long) and subtracts its estimate from channel 0 before the server's
VAD hears it. It is a partitioned-block frequency-domain NLMS filter (blocks of 256 samples,
constrained gradient), which adapts only while the speaker plays something and holds still
while the microphone is much louder than the estimated echo (the person talking over it).
"""

from __future__ import annotations

import math

import numpy as np

BLOCK = 256
STEP = 1.0  # NLMS step size (normalised per frequency bin)
SMOOTH = 0.5  # how much of the reference's power estimate carries over from block to block
REGULARISE = 0.1  # of the mean power: keeps quiet bins from taking huge steps
SUPPRESS = 0.0  # what is left, no louder than 12 dB over what the echo path gives, is residual echo: removed
_TINY = 1e-6


class EchoCanceller:
    """Removes the reference (channel 1) from the microphone (channel 0), block by block."""

    def __init__(self, rate: int, length_ms: float = 256.0) -> None:
        self.rate = rate
        self.parts = max(1, int(np.ceil(length_ms / 1000 * rate / BLOCK)))
        bins = BLOCK + 1
        self._w = np.zeros((self.parts, bins), dtype=np.complex128)
        self._x = np.zeros((self.parts, bins), dtype=np.complex128)  # spectra of recent reference blocks
        self._power = np.full(bins, _TINY)
        self._prev_ref = np.zeros(BLOCK)
        self._ref_powers = np.zeros(self.parts)  # mean squares of the reference blocks the filter spans
        self._coupling = 1.0  # how loud the microphone hears the reference (power ratio): as loud, until learnt
        self._gain = 1.0  # the residual echo suppressor's last gain
        self._rng = np.random.default_rng(0)  # comfort noise
        self._floor = float("inf")  # the quietest the microphone has been (mean square)
        self._mic = np.zeros(0)
        self._ref = np.zeros(0)
        self._ready = np.zeros(BLOCK, dtype=np.int16)  # cleaned audio not handed out yet (one block late)

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """Feed equal-length microphone and reference samples (int16); returns as many cleaned samples,
        one block (16 ms at 16 kHz) late: the audio clock keeps its length."""
        self._mic = np.concatenate([self._mic, mic.astype(np.float64)])
        self._ref = np.concatenate([self._ref, ref.astype(np.float64)])
        out = [self._ready]
        while len(self._mic) >= BLOCK:
            d, x = self._mic[:BLOCK], self._ref[:BLOCK]
            self._mic, self._ref = self._mic[BLOCK:], self._ref[BLOCK:]
            out.append(np.clip(np.round(self._block(d, x)), -32768, 32767).astype(np.int16))
        ready = np.concatenate(out)
        n = len(mic)
        self._ready = ready[n:]
        return ready[:n]

    def _block(self, d: np.ndarray, x: np.ndarray) -> np.ndarray:
        X = np.fft.rfft(np.concatenate([self._prev_ref, x]))
        self._prev_ref = x
        self._x = np.roll(self._x, 1, axis=0)
        self._x[0] = X
        self._ref_powers = np.roll(self._ref_powers, 1)
        self._ref_powers[0] = float(np.dot(x, x)) / BLOCK
        y = np.fft.irfft((self._x * self._w).sum(axis=0))[BLOCK:]
        e = d - y
        ref_power = float(self._ref_powers.max())
        if ref_power < 1.0:  # the speaker has been silent for the filter's whole span: nothing to remove
            self._floor = min(float(np.dot(d, d)) / BLOCK, self._floor * 1.01)
            return self._fade(e, 1.0)
        mic_power = float(np.dot(d, d)) / BLOCK
        self._floor = min(mic_power, self._floor * 1.01)  # the room's noise (a slowly rising minimum)
        # How loud the microphone hears the speaker: follows the ratio down, and up ten times slower
        # (someone talking over the reply makes it louder for a while, not the echo path); slowly
        # enough both ways that the pauses between words (the echo dies away first) do not pull it down.
        ratio = mic_power / ref_power
        self._coupling += (ratio - self._coupling) * (0.05 if ratio < self._coupling else 0.005)
        self._power = SMOOTH * self._power + (1 - SMOOTH) * (np.abs(self._x) ** 2).sum(axis=0)
        E = np.fft.rfft(np.concatenate([np.zeros(BLOCK), e]))
        mu = STEP / (self._power + REGULARISE * self._power.mean() + _TINY)
        g = np.fft.irfft(np.conj(self._x) * (E * mu), axis=1)
        g[:, BLOCK:] = 0.0  # constrained: the filter stays a linear convolution
        self._w += np.fft.rfft(g, axis=1)
        if float(np.dot(e, e)) > 0.5 * float(np.dot(d, d)):
            e = d  # the estimate removed little (no echo here, or not learnt yet): never add the reference
        echo = self._coupling * ref_power  # what the echo path gives now
        residual = float(np.dot(e, e)) / BLOCK <= 16.0 * echo and echo > 16.0 * self._floor  # 12 dB above the noise
        return self._fade(e, SUPPRESS if residual else 1.0)

    def _fade(self, e: np.ndarray, gain: float) -> np.ndarray:
        """``e`` scaled by ``gain``, ramped from the last block's gain (no clicks for the VAD to hear)."""
        ramp = np.linspace(self._gain, gain, BLOCK, endpoint=False)
        self._gain = gain
        if gain == 1.0 and ramp[0] == 1.0:
            return e
        # What is taken away is replaced by the room's own noise, so the VAD hears no gaps in it.
        level = math.sqrt(self._floor) if math.isfinite(self._floor) else 0.0
        return e * ramp + self._rng.standard_normal(BLOCK) * level * (1.0 - ramp)
