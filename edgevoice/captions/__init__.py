"""Captions for a kiosk screen: what the visitor said and what the assistant says, as it is heard."""
