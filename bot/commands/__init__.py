"""CLI sub-commands that belong to the bot adapter (each module exports `register(app)`)."""
