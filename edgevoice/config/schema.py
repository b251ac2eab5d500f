"""The whole config file: one dataclass per TOML table."""

from __future__ import annotations

from dataclasses import dataclass

from edgevoice.config.assistant import AssistantConfig, LedsConfig
from edgevoice.config.control import ControlConfig
from edgevoice.config.cost import CostConfig, check_cheaper_model
from edgevoice.config.errors import ConfigError
from edgevoice.config.fields import setting
from edgevoice.config.listening import AudioConfig, ButtonsConfig, ListeningConfig
from edgevoice.config.offline import OfflineConfig
from edgevoice.config.presence import PresenceConfig
from edgevoice.config.screen import CaptionsConfig, MetricsConfig
from edgevoice.config.tools import KnowledgeConfig, ToolsConfig
from edgevoice.config.voicelive import VoiceLiveConfig


@dataclass(frozen=True)
class Config:
    """Everything edgevoice reads from its TOML file."""

    voicelive: VoiceLiveConfig = setting(default_factory=VoiceLiveConfig, doc="the Voice Live session")
    audio: AudioConfig = setting(default_factory=AudioConfig, doc="microphone and speaker")
    listening: ListeningConfig = setting(default_factory=ListeningConfig, doc="noise handling, VAD, wake words")
    buttons: ButtonsConfig = setting(default_factory=ButtonsConfig, doc="push-to-talk and mute switch")
    assistant: AssistantConfig = setting(default_factory=AssistantConfig, doc="conversation flow, barge-in, chimes")
    leds: LedsConfig = setting(default_factory=LedsConfig, doc="status LEDs")
    offline: OfflineConfig = setting(default_factory=OfflineConfig, doc="cached replies and finding the service again")
    knowledge: KnowledgeConfig = setting(default_factory=KnowledgeConfig, doc="the owner's documents, searched on the device")
    tools: ToolsConfig = setting(default_factory=ToolsConfig, doc="what the model may do: built-in, GPIO and MCP tools")
    control: ControlConfig = setting(default_factory=ControlConfig, doc="the local control socket (status, say, mute)")
    presence: PresenceConfig = setting(default_factory=PresenceConfig, doc="a presence sensor: greet, listen, reset")
    captions: CaptionsConfig = setting(default_factory=CaptionsConfig, doc="the captions page for a kiosk screen")
    metrics: MetricsConfig = setting(default_factory=MetricsConfig, doc="Prometheus metrics for node_exporter's textfile collector")
    cost: CostConfig = setting(default_factory=CostConfig, doc="token prices, a daily budget, the usage ledger")

    def check(self) -> None:
        if self.tools.timeout_s >= self.assistant.reply_timeout_s:
            raise ConfigError(
                "tools.timeout_s",
                f"{self.tools.timeout_s:g} s is not shorter than assistant.reply_timeout_s ({self.assistant.reply_timeout_s:g} s): "
                "the reply would be given up while a tool still runs",
            )
        if self.cost.cheaper_model:
            check_cheaper_model(self.voicelive, self.cost.cheaper_model)
