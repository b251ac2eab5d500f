"""What the kiosk spends: token usage per response, prices, the daily ledger and the budget."""
