"""What the daemon shows outside itself, fed by its milestone records: the captions page and the metrics file.

Both are optional ([captions] enabled, [metrics] textfile) and both only listen to the
telemetry's records, so the assistant's loop never waits on a browser or a disk. The captions
server (aiohttp) is imported only when it is enabled: a kiosk without a screen pays nothing for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edgevoice.config.offline import ANSWER_PREFIX, OfflineConfig
from edgevoice.config.schema import Config
from edgevoice.cost.snapshot import CostSnapshot, cost_families
from edgevoice.daemon.telemetry import Telemetry
from edgevoice.metrics.fleet import FleetMetrics
from edgevoice.metrics.process import process_families
from edgevoice.metrics.textfile import MetricsTextfile

logger = logging.getLogger(__name__)


def cached_texts(offline: OfflineConfig) -> dict[str, str]:
    """What each cached reply says, for its caption: phrase name or ``answer:ID`` -> text."""
    texts = offline.spoken_texts()
    for entry in offline.answers:
        texts[f"{ANSWER_PREFIX}{entry.id}"] = texts.get(entry.sound_name, "")
    return texts


class DaemonOutputs:
    """The captions page and the metrics file of one run, started from the config."""

    def __init__(self, config: Config, telemetry: Telemetry) -> None:
        self.metrics: MetricsTextfile | None = None
        self.fleet: FleetMetrics | None = None
        self.captions: Any = None  # edgevoice.captions.server.CaptionsServer, when enabled
        if config.metrics.textfile is not None:
            self.metrics = MetricsTextfile(config.metrics.textfile, interval_s=config.metrics.interval_s)
            self.fleet = FleetMetrics(clock=telemetry.clock, on_turn_end=self.metrics.request)
            self.metrics.add_provider(self.fleet.families)
            self.metrics.add_provider(process_families)
            telemetry.add_listener(self.fleet.record)
        if config.captions.enabled:
            from edgevoice.captions.server import CaptionsServer

            if config.voicelive.transcription.model == "none":
                logger.warning("captions are on but [voicelive.transcription] model is none: the visitor's words "
                               "will not be shown, only the replies")
            self.captions = CaptionsServer(config.captions, clock=telemetry.clock, cached_texts=cached_texts(config.offline))
            telemetry.add_listener(self.captions.record)

    def start(self) -> DaemonOutputs:
        """Start both; a port in use is logged and the assistant runs on without its captions."""
        if self.metrics is not None:
            self.metrics.start()
            logger.info("writing metrics to %s every %.0f s", self.metrics.path, self.metrics.interval_s)
        if self.captions is not None:
            try:
                self.captions.start()
            except OSError as exc:
                logger.error("captions page: cannot listen on %s: %s; running without it", self.captions.address,
                             exc.strerror or exc)
                self.captions = None
        return self

    def add_costs(self, snapshot: Callable[[], CostSnapshot]) -> None:
        """Token and cost counters in the metrics file, from the usage ledger (the same as ``edgevoice cost``)."""
        if self.metrics is not None:
            self.metrics.add_provider(lambda: cost_families(snapshot()))

    def close(self) -> None:
        if self.captions is not None:
            self.captions.close()
        if self.metrics is not None:
            self.metrics.close()
