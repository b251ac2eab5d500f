"""What the device says by itself when Voice Live cannot answer: cached phrases."""
