"""The imperative shell around the assistant's pure state machine: devices, session, timers, telemetry."""
