"""The Telegram adapter (and the CLI entry point): parse, check who is asking, call one service, render."""
