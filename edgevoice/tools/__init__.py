"""Tools the model can call: run on the device (knowledge search, time, end of conversation, GPIO)
or, for MCP servers, declared for the service to call."""
