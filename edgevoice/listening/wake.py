"""Wake words: several microWakeWord models on one shared feature stream.

The spectral features (``pymicro_features.MicroFrontend``) do not depend on the model, so they
are computed once per 10 ms frame, quantized once per group of models that read the same input
format, and handed to every model. Each model then runs exactly as pymicro-wakeword runs it
(same stride, same dequantization, same mean over its sliding window, same ``> cutoff`` rule;
a test keeps the probabilities equal to ``MicroWakeWord.process_streaming_prob``), but without
per-frame list and array allocations.
"""

from __future__ import annotations

import ctypes
import logging
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pymicro_features import MicroFrontend
from pymicro_wakeword import MicroWakeWord, Model

from edgevoice.audio.frames import FRAME_BYTES, FRAME_SAMPLES
from edgevoice.config.listening import model_file_problem, preset_cutoff
from edgevoice.listening.frontend_events import WakeWordDetected

logger = logging.getLogger(__name__)

FEATURES = 40  # MicroFrontend output channels


class WakeWordError(ValueError):
    """A wake word model that cannot be loaded; the message names it and why."""


def check_model_file(path: Path) -> None:
    """Refuse a model JSON that would crash TensorFlow Lite (it dereferences a model it failed to load)."""
    problem = model_file_problem(path)
    if problem:
        raise WakeWordError(f"cannot load wake word model {str(path)!r}: {problem}")


def load_model(name_or_path: str | Path) -> MicroWakeWord:
    """A built-in model by name (``okay_nabu``...) or a custom one by the path of its JSON file."""
    builtin = {m.value: m for m in Model}
    key = str(name_or_path)
    try:
        if key in builtin:
            return MicroWakeWord.from_builtin(builtin[key])
        path = Path(key)
        if path.suffix != ".json":
            raise WakeWordError(
                f"{key!r} is neither a built-in wake word ({', '.join(builtin)}) nor a model .json file"
            )
        check_model_file(path)
        return MicroWakeWord.from_config(path)
    except WakeWordError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise WakeWordError(f"cannot load wake word model {key!r}: {exc}") from exc


class WakeModel:
    """One model: takes quantized feature windows, returns its sliding-window mean probability."""

    def __init__(self, model: MicroWakeWord, cutoff: float | None = None, refractory_s: float = 2.0) -> None:
        self.model = model
        self.name: str = model.id
        self.phrase: str = model.wake_word
        self.cutoff: float = float(model.probability_cutoff if cutoff is None else cutoff)
        self.refractory_s = refractory_s
        self.stride: int = int(model.stride)
        self.window: int = int(model.sliding_window_size)
        self._probabilities: deque[float] = deque(maxlen=self.window)
        self._quiet_until = -1.0
        self._bind()

    def _bind(self) -> None:
        m = self.model
        lib = m.lib
        self._copy_in = lib.TfLiteTensorCopyFromBuffer
        self._invoke = lib.TfLiteInterpreterInvoke
        self._copy_out = lib.TfLiteTensorCopyToBuffer
        self._input = m.input_tensor
        self._output = m.output_tensor
        self._interpreter = m.interpreter
        out_bytes = lib.TfLiteTensorByteSize(m.output_tensor)
        self._out = np.empty(out_bytes // np.dtype(m.output_dtype).itemsize, dtype=m.output_dtype)
        self._out_ptr = self._out.ctypes.data_as(ctypes.c_void_p)
        self._out_bytes = out_bytes
        # The output is one quantized byte: dequantize by table, exactly as the library does.
        codes = np.arange(256, dtype=np.int16) + (-128 if m.output_dtype == np.int8 else 0)
        table = (codes.astype(m.output_dtype).astype(np.float32) - m.output_zero_point) * m.output_scale
        self._table = [float(x) for x in table]
        self._offset = 128 if m.output_dtype == np.int8 else 0

    @property
    def input_key(self) -> tuple:
        """Models with the same key read the same quantized input and can share it."""
        m = self.model
        return (self.stride, float(m.input_scale), int(m.input_zero_point), np.dtype(m.input_dtype).str)

    def infer(self, ptr: ctypes.c_void_p, nbytes: int) -> float:
        """Run once on a quantized (1, stride, 40) input; the window mean (0.0 until the window is full)."""
        self._copy_in(self._input, ptr, nbytes)
        self._invoke(self._interpreter)
        self._copy_out(self._output, self._out_ptr, self._out_bytes)
        probs = self._probabilities
        probs.append(self._table[int(self._out[0]) + self._offset])
        if len(probs) < self.window:
            return 0.0
        return sum(probs) / self.window

    def reset(self) -> None:
        """Fresh model state (the library reloads the interpreter for that)."""
        self._probabilities.clear()
        self._quiet_until = -1.0
        self.model.reset()
        self._bind()

    def close(self) -> None:
        self.model.close()


class _InputGroup:
    """The quantized feature window shared by the models that read the same input format."""

    def __init__(self, models: list[WakeModel]) -> None:
        stride, scale, zero_point, dtype = models[0].input_key
        self.models = models
        self.stride = stride
        self.scale = scale
        self.zero_point = zero_point
        self.raw = np.zeros((stride, FEATURES), dtype=np.float64)
        self.tmp = np.zeros((stride, FEATURES), dtype=np.float64)
        self.quantized = np.zeros((1, stride, FEATURES), dtype=np.dtype(dtype))
        self.ptr = self.quantized.ctypes.data_as(ctypes.c_void_p)
        self.nbytes = self.quantized.nbytes
        self.filled = 0

    def quantize(self) -> None:
        # Same arithmetic as the library: round(features / scale + zero_point) cast to the input type.
        np.divide(self.raw, self.scale, out=self.tmp)
        self.tmp += self.zero_point
        np.round(self.tmp, out=self.tmp)
        self.quantized[0] = self.tmp


class WakeWordDetector:
    """Listens for several wake words at once on 10 ms frames of 16 kHz mono int16.

    ``process(frame, t)`` returns the detections made on this frame (usually none). After a
    detection the same wake word stays quiet for ``refractory_s`` so one utterance fires once.
    """

    def __init__(self, models: Sequence[WakeModel]) -> None:
        if not models:
            raise ValueError("no wake word models")
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise WakeWordError(f"two wake word models share a name: {names}")
        self.models = list(models)
        self._frontend = MicroFrontend()
        groups: dict[tuple, list[WakeModel]] = {}
        for m in self.models:
            groups.setdefault(m.input_key, []).append(m)
        self._groups = [_InputGroup(ms) for ms in groups.values()]
        self.last_probabilities: dict[str, float] = {m.name: 0.0 for m in self.models}

    @classmethod
    def load(
        cls,
        names: Sequence[str | Path],
        *,
        probability_cutoff: float | None = None,
        refractory_s: float = 2.0,
        sensitivity: str = "default",
    ) -> WakeWordDetector:
        """Load built-in models by name and custom ones by JSON path; each takes ``probability_cutoff``,
        else the cutoff of the ``sensitivity`` preset for it."""
        models = []
        for name in names:
            model = load_model(name)
            cutoff = probability_cutoff
            if cutoff is None:
                cutoff = preset_cutoff(sensitivity, model.id, float(model.probability_cutoff))
            models.append(WakeModel(model, cutoff, refractory_s))
        return cls(models)

    @classmethod
    def from_config(cls, wake) -> WakeWordDetector | None:  # wake: edgevoice.config.listening.WakeConfig
        """The detector described by [listening.wake]; None when no wake word is configured."""
        names = [*wake.words, *wake.model_files]
        if not names:
            return None
        return cls.load(names, probability_cutoff=wake.probability_cutoff, refractory_s=wake.refractory_s,
                        sensitivity=wake.sensitivity)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def process(self, frame: bytes, t: float) -> list[WakeWordDetected] | None:
        """Feed one frame; returns the wake words detected on it, or None."""
        result = self._frontend.process_samples(frame)
        if result.samples_read != FRAME_SAMPLES:  # never seen with 10 ms frames; handled like the library
            return self._process_slow(frame, result, t)
        features = result.features
        if not features:
            return None
        return self._features(features, t)

    def _process_slow(self, frame: bytes, result, t: float) -> list[WakeWordDetected] | None:
        found: list[WakeWordDetected] = []
        offset = 0
        while True:
            if result.features:
                found.extend(self._features(result.features, t) or ())
            offset += result.samples_read * 2
            if offset + 2 > FRAME_BYTES or result.samples_read == 0:
                break
            result = self._frontend.process_samples(frame[offset:])
        return found or None

    def _features(self, features: list[float], t: float) -> list[WakeWordDetected] | None:
        found = None
        for group in self._groups:
            group.raw[group.filled] = features
            group.filled += 1
            if group.filled < group.stride:
                continue
            group.filled = 0
            group.quantize()
            for model in group.models:
                p = model.infer(group.ptr, group.nbytes)
                self.last_probabilities[model.name] = p
                if p > model.cutoff and t >= model._quiet_until:
                    model._quiet_until = t + model.refractory_s
                    if found is None:
                        found = []
                    found.append(WakeWordDetected(model.name, p, t))
        return found

    def reset(self) -> None:
        """Forget all audio heard so far (after mute)."""
        self._frontend.reset()
        for group in self._groups:
            group.filled = 0
        for m in self.models:
            m.reset()

    def close(self) -> None:
        for m in self.models:
            m.close()
